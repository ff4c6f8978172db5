"""Safe arithmetic expressions over model parameters, parsed with `ast` and evaluated on NumPy arrays (never `eval`)."""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _ifelse(condition: Any, then: Any, otherwise: Any) -> Any:
    """`then` where the condition is non-zero, else `otherwise` (elementwise)."""
    return np.where(np.asarray(condition) != 0, then, otherwise)


def _rate_to_prob(rate: Any, time: Any = 1.0) -> Any:
    """P(event within `time`) at a constant rate: 1 − exp(−r·t)."""
    return -np.expm1(-np.asarray(rate) * time)


def _prob_to_rate(prob: Any, time: Any = 1.0) -> Any:
    """The constant rate giving probability p within `time`: −ln(1 − p) / t."""
    return -np.log1p(-np.asarray(prob)) / time


def _weibull_prob(scale: Any, shape: Any, t: Any) -> Any:
    """P(event in cycle t | none before) for cumulative hazard H(t) = λ·t^γ: 1 − exp(λ((t−1)^γ − t^γ))."""
    t = np.asarray(t, dtype=float)
    return -np.expm1(np.asarray(scale) * ((t - 1.0) ** shape - t**shape))


def _gompertz_prob(rate: Any, shape: Any, t: Any) -> Any:
    """P(event in cycle t | none before) for hazard h(t) = a·e^(b·t): 1 − exp(−a/b·(e^(bt) − e^(b(t−1))))."""
    t = np.asarray(t, dtype=float)
    return -np.expm1(-np.asarray(rate) / shape * (np.exp(shape * t) - np.exp(shape * (t - 1.0))))


# Rules as data: the only functions an expression may call, each vectorised over PSA iterations.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": np.minimum,
    "max": np.maximum,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "ifelse": _ifelse,
    "rate_to_prob": _rate_to_prob,
    "prob_to_rate": _prob_to_rate,
    "weibull_prob": _weibull_prob,
    "gompertz_prob": _gompertz_prob,
}
#: Variables the engine provides: the cycle number t = 1..N and the cohort's age (model.start_age + t·Δt).
TIME_VARIABLES = ("model_time", "age")
#: Names a parameter, table, look-up or state may not take: Python's keywords (they cannot be parsed as names),
#: the functions and the engine's variables.
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(FUNCTIONS) | frozenset(TIME_VARIABLES)
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
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
    calls: frozenset[str] = frozenset()  # look-up tables called like functions

    def evaluate(self, env: Mapping[str, Any]) -> Array | float:
        """Evaluate on arrays that broadcast together (e.g. shape (iterations,) or (cycles, iterations))."""
        result: Array | float = _eval(self.tree, env)
        return result

    @property
    def constant(self) -> float | None:
        """The value when the expression is a plain number, else None."""
        return float(self.tree.value) if isinstance(self.tree, ast.Constant) else None  # type: ignore[arg-type]


def check_name(name: str) -> str | None:
    """Why `name` cannot name a parameter, table or look-up (None when it can)."""
    if not name.isidentifier():
        return f"{name!r} is not a valid name (letters, digits and _; not starting with a digit)"
    if name in RESERVED:
        return f"{name!r} is a reserved word (a keyword, function or engine variable); rename it, e.g. {name + '_'!r}"
    return None


def parse(text: str | float | int, lookups: frozenset[str] = frozenset()) -> Expression:
    """Parse a number or an expression: numbers, names, + - * / **, unary minus, comparisons, the FUNCTIONS and
    calls of the model's look-up tables (`lookups`)."""
    if isinstance(text, bool):
        raise ExpressionError(f"{text!r} is not a number or expression")
    if isinstance(text, int | float):
        return Expression(repr(float(text)), ast.Constant(float(text)), frozenset())
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        words = sorted(w for w in keyword.kwlist if w in text.replace("(", " ").replace(")", " ").split())
        hint = f" ({', '.join(map(repr, words))} is a reserved word: rename the parameter)" if words else ""
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}{hint}") from None
    names: set[str] = set()
    calls: set[str] = set()
    _check(tree, text, names, calls, lookups)
    return Expression(text, tree, frozenset(names), frozenset(calls))


def _check(node: ast.AST, text: str, names: set[str], calls: set[str], lookups: frozenset[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numbers are allowed as constants in {text!r}")
    elif isinstance(node, ast.Name):
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed in {text!r}")
        _check(node.left, text, names, calls, lookups)
        _check(node.right, text, names, calls, lookups)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, text, names, calls, lookups)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _COMPARE for op in node.ops):
            raise ExpressionError(f"only < <= > >= == != may compare in {text!r}")
        for part in (node.left, *node.comparators):
            _check(part, text, names, calls, lookups)
    elif isinstance(node, ast.Call):
        known = isinstance(node.func, ast.Name) and (node.func.id in FUNCTIONS or node.func.id in lookups)
        if not known or node.keywords:
            allowed = sorted(FUNCTIONS) + sorted(lookups)
            raise ExpressionError(f"only the functions {allowed} may be called in {text!r}")
        assert isinstance(node.func, ast.Name)
        if not node.args:
            raise ExpressionError(f"{node.func.id}() needs arguments in {text!r}")
        if node.func.id in lookups:
            calls.add(node.func.id)
        for arg in node.args:
            _check(arg, text, names, calls, lookups)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")


def _eval(node: ast.expr, env: Mapping[str, Any]) -> Any:
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
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        result = None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, env)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        return np.asarray(result, dtype=float)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval(a, env) for a in node.args]
        fn = FUNCTIONS.get(node.func.id)
        if fn is None:  # a look-up table: the engine puts its callable in the environment
            table = env.get(node.func.id)
            if not callable(table):
                raise ExpressionError(f"unknown look-up table {node.func.id!r}")
            return table(*args)
        if fn in (np.minimum, np.maximum):
            result = args[0]
            for a in args[1:]:
                result = fn(result, a)
            return result
        return fn(*args)
    raise ExpressionError("unsupported expression")  # unreachable after _check
