"""Safe arithmetic expressions over model parameters, parsed with `ast` and evaluated on NumPy arrays (never `eval`)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

# Rules as data: the only functions an expression may call, each vectorised over PSA iterations.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": np.minimum,
    "max": np.maximum,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}


class ExpressionError(ValueError):
    """An expression that cannot be parsed, uses a forbidden construct or names an unknown parameter."""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, syntax tree and the parameter names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, Array | float]) -> Array | float:
        """Evaluate on arrays that broadcast together (e.g. shape (iterations,) or (cycles, iterations))."""
        result: Array | float = _eval(self.tree, env)
        return result

    @property
    def constant(self) -> float | None:
        """The value when the expression is a plain number, else None."""
        return float(self.tree.value) if isinstance(self.tree, ast.Constant) else None  # type: ignore[arg-type]


def parse(text: str | float | int) -> Expression:
    """Parse a number or an arithmetic expression: numbers, names, + - * / **, unary minus, min/max/exp/log/sqrt/abs."""
    if isinstance(text, bool):
        raise ExpressionError(f"{text!r} is not a number or expression")
    if isinstance(text, int | float):
        return Expression(repr(float(text)), ast.Constant(float(text)), frozenset())
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}") from None
    names: set[str] = set()
    _check(tree, text, names)
    return Expression(text, tree, frozenset(names))


def _check(node: ast.AST, text: str, names: set[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numbers are allowed as constants in {text!r}")
    elif isinstance(node, ast.Name):
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed in {text!r}")
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, text, names)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise ExpressionError(f"only the functions {sorted(FUNCTIONS)} may be called in {text!r}")
        if not node.args:
            raise ExpressionError(f"{node.func.id}() needs arguments in {text!r}")
        for arg in node.args:
            _check(arg, text, names)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")


def _eval(node: ast.expr, env: Mapping[str, Array | float]) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        try:
            return env[node.id]
        except KeyError:
            raise ExpressionError(f"unknown name {node.id!r}") from None
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval(a, env) for a in node.args]
        fn = FUNCTIONS[node.func.id]
        if fn in (np.minimum, np.maximum):
            result = args[0]
            for a in args[1:]:
                result = fn(result, a)
            return result
        return fn(*args)
    raise ExpressionError("unsupported expression")  # unreachable after _check
