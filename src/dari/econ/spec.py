"""The model-definition schema (TOML → pydantic): parameters, strategies, decision tree, Markov model, budget impact."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Expr = float | str
Counting = Literal["beginning", "end", "half-cycle", "simpson"]
Branch = Literal["TP", "FP", "FN", "TN"]
Kind = Literal["probability", "utility", "cost", "rate", "ratio", "count", "other"]

# HIRA's pharmacoeconomic guideline (2021 revision) uses 4.5 % a year for costs and effects alike.
HIRA_DISCOUNT = 0.045


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Strict):
    """A PSA distribution; each type is given either by its natural parameters or by mean and standard error."""

    type: Literal["beta", "gamma", "lognormal", "normal", "fixed"]
    alpha: float | None = Field(None, gt=0)
    beta: float | None = Field(None, gt=0)
    shape: float | None = Field(None, gt=0)
    scale: float | None = Field(None, gt=0)
    meanlog: float | None = None
    sdlog: float | None = Field(None, ge=0)
    mean: float | None = None
    se: float | None = Field(None, ge=0)
    sd: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> Distribution:
        natural = {
            "beta": ("alpha", "beta"),
            "gamma": ("shape", "scale"),
            "lognormal": ("meanlog", "sdlog"),
            "normal": ("mean", "sd"),
            "fixed": (),
        }[self.type]
        has_natural = all(getattr(self, k) is not None for k in natural)
        has_moments = self.mean is not None and (self.se is not None or self.sd is not None)
        if not (has_natural or has_moments):
            raise ValueError(f"{self.type} needs {' and '.join(natural)} or mean and se")
        return self


class Parameter(_Strict):
    """A named input: a number (optionally uncertain) or an expression of other parameters (derived)."""

    value: Expr
    distribution: Distribution | None = None
    kind: Kind = "other"
    low: float | None = None
    high: float | None = None
    unit: str = ""
    source: str = ""
    label: str = ""  # the parameter in words (English), shown in reports instead of its code
    label_ko: str = ""  # … in Korean


class DirichletGroup(_Strict):
    """Multinomial probabilities estimated from counts; each key becomes a parameter equal to count / total."""

    counts: dict[str, float]
    source: str = ""


class CorrelatedGroup(_Strict):
    """Parameters drawn jointly from a multivariate normal (e.g. a regression's coefficients with their covariance)."""

    parameters: list[str] = Field(min_length=2)
    covariance: list[list[float]]
    mean: list[float] | None = None  # default: the parameters' base values
    source: str = ""

    @model_validator(mode="after")
    def _square(self) -> CorrelatedGroup:
        k = len(self.parameters)
        if len(self.covariance) != k or any(len(row) != k for row in self.covariance):
            raise ValueError(f"covariance must be {k}×{k} (one row and column per parameter)")
        if self.mean is not None and len(self.mean) != k:
            raise ValueError(f"mean needs {k} entries")
        return self


class TreeBranch(_Strict):
    """One outcome of the diagnostic step: immediate cost, immediate QALY loss, where it enters the Markov model."""

    cost: Expr = 0.0
    qaly_loss: Expr = 0.0
    start: dict[str, Expr] = Field(default_factory=dict)


class Tree(_Strict):
    """Diagnostic decision tree: prevalence × each strategy's sensitivity/specificity → TP, FP, FN, TN."""

    prevalence: Expr
    branches: dict[Branch, TreeBranch]


class Lookup(_Strict):
    """A look-up table (e.g. life table by age and sex) from a CSV file or inline rows [key..., value]."""

    file: str | None = None
    rows: list[list[float]] | None = None
    keys: list[str] = Field(min_length=1)
    value: str = "value"
    bin: list[str] = Field(default_factory=list)
    source: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> Lookup:
        if (self.file is None) == (self.rows is None):
            raise ValueError("give either file or rows")
        unknown = sorted(set(self.bin) - set(self.keys))
        if unknown:
            raise ValueError(f"bin names keys that are not keys: {unknown}")
        return self


class TreeEdge(_Strict):
    """A branch of a chance node (probability `p`, `"#"` = the rest) or of a decision node (`strategy`)."""

    to: str
    p: Expr | None = None
    strategy: str | None = None
    cost: Expr = 0.0
    label: str = ""


class TreeNode(_Strict):
    """A chance, decision or terminal node; a terminal has an outcome (cost, utility) and may enter Markov states."""

    type: Literal["chance", "decision", "terminal"]
    label: str = ""
    branches: list[TreeEdge] = Field(default_factory=list)
    cost: Expr = 0.0
    utility: Expr = 0.0
    enter: dict[str, Expr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> TreeNode:
        if self.type == "terminal" and self.branches:
            raise ValueError("a terminal node has no branches")
        if self.type != "terminal" and not self.branches:
            raise ValueError(f"a {self.type} node needs branches")
        if self.type != "terminal" and (self.enter or self.utility != 0.0):
            raise ValueError("only terminal nodes have a utility or enter Markov states")
        if self.type == "chance" and any(b.p is None for b in self.branches):
            raise ValueError("every branch of a chance node needs p")
        if self.type == "decision" and any(b.strategy is None for b in self.branches):
            raise ValueError("every branch of a decision node names the strategy that takes it")
        return self


class DecisionTree(_Strict):
    """A decision tree of any shape; each strategy starts at `root` (or its own `root`); costs and utilities are
    immediate (undiscounted); terminals' `enter` distributions start the Markov model."""

    root: str
    nodes: dict[str, TreeNode] = Field(min_length=1)


class Markov(_Strict):
    """Markov cohort model: states, transition rows (`"#"` = complement), per-cycle state costs, annual utilities,
    costs of transitions (`transition_costs.FROM.TO`) and of entering a state from another (`entry_costs`)."""

    states: list[str] = Field(min_length=2)
    dead: list[str] = Field(default_factory=list)
    initial: dict[str, Expr] = Field(default_factory=dict)
    transitions: dict[str, dict[str, Expr]]
    state_costs: dict[str, Expr] = Field(default_factory=dict)
    utilities: dict[str, Expr] = Field(default_factory=dict)
    transition_costs: dict[str, dict[str, Expr]] = Field(default_factory=dict)
    entry_costs: dict[str, Expr] = Field(default_factory=dict)


class Strategy(_Strict):
    """One option compared; its overrides replace single transition entries, state costs or utilities."""

    label: str = ""
    description: str = ""
    one_off_cost: Expr = 0.0
    sensitivity: Expr | None = None
    specificity: Expr | None = None
    transitions: dict[str, dict[str, Expr]] = Field(default_factory=dict)
    state_costs: dict[str, Expr] = Field(default_factory=dict)
    utilities: dict[str, Expr] = Field(default_factory=dict)
    initial: dict[str, Expr] = Field(default_factory=dict)
    transition_costs: dict[str, dict[str, Expr]] = Field(default_factory=dict)
    entry_costs: dict[str, Expr] = Field(default_factory=dict)
    set: dict[str, Expr] = Field(default_factory=dict)  # strategy variables, in order, e.g. p_relief per drug
    root: str | None = None  # where this strategy enters the decision tree (default: the tree's root)


class Settings(_Strict):
    """Analysis settings: horizon, cycle, discounting, counting convention, perspective and the decision question."""

    name: str
    description: str = ""
    objective: str = ""
    population: str = ""
    perspective: str = "healthcare system (건강보험 지불자 관점)"
    currency: str = "KRW"
    cycle_length: float = Field(1.0, gt=0)
    horizon: int = Field(1, ge=1)
    discount_costs: float = Field(HIRA_DISCOUNT, ge=0, lt=1)
    discount_effects: float = Field(HIRA_DISCOUNT, ge=0, lt=1)
    counting: Counting = "half-cycle"
    counting_weights: list[float] | None = None  # user weights of trace points 0..N (replace `counting`)
    start_age: float | None = None  # the cohort's age at the start; `age` = start_age + model_time × cycle_length
    comparator: str | None = None
    intervention: str | None = None
    wtp: float = Field(30_000_000.0, ge=0)

    @model_validator(mode="after")
    def _weights(self) -> Settings:
        w = self.counting_weights
        if w is not None and len(w) != self.horizon + 1:
            raise ValueError(f"counting_weights needs horizon + 1 = {self.horizon + 1} entries, got {len(w)}")
        if w is not None and any(x < 0 for x in w):
            raise ValueError("counting_weights cannot be negative")
        return self


class ValidationMap(_Strict):
    """Which parameters a validation result file (`--validation`) overrides."""

    sensitivity: str | None = None
    specificity: str | None = None
    prevalence: str | None = None
    site: str = "pooled"


class BudgetImpact(_Strict):
    """Budget impact: eligible people and uptake of the new strategy per year, price overrides and fixed offsets."""

    new: str
    current: str
    population: list[float] = Field(min_length=1)
    uptake: list[float] = Field(min_length=1)
    prices: dict[str, float] = Field(default_factory=dict)
    offsets: list[float] = Field(default_factory=list)
    offset_label: str = "fixed costs / savings"

    @model_validator(mode="after")
    def _years(self) -> BudgetImpact:
        if len(self.uptake) != len(self.population):
            raise ValueError("population and uptake need one entry per year")
        if self.offsets and len(self.offsets) != len(self.population):
            raise ValueError("offsets need one entry per year")
        if any(not 0 <= u <= 1 for u in self.uptake):
            raise ValueError("uptake shares must lie in [0, 1]")
        if any(p < 0 for p in self.population):
            raise ValueError("eligible population cannot be negative")
        return self


class ModelSpec(_Strict):
    """A whole model file, validated; `file` records where it came from for error messages."""

    model: Settings
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    dirichlet: dict[str, DirichletGroup] = Field(default_factory=dict)
    correlated: dict[str, CorrelatedGroup] = Field(default_factory=dict)
    tables: dict[str, list[Expr]] = Field(default_factory=dict)
    strategies: dict[str, Strategy] = Field(min_length=1)
    tree: Tree | None = None
    decision: DecisionTree | None = None
    lookups: dict[str, Lookup] = Field(default_factory=dict)
    markov: Markov | None = None
    validation: ValidationMap | None = None
    budget_impact: BudgetImpact | None = None
    evppi: dict[str, list[str]] = Field(default_factory=dict)  # parameter groups whose EVPPI the PSA reports
    scenarios: dict[str, dict[str, float]] = Field(default_factory=dict)  # name → primary parameter overrides
    file: str = ""

    @model_validator(mode="after")
    def _one_tree(self) -> ModelSpec:
        if self.tree is not None and self.decision is not None:
            raise ValueError("give either [tree] (the diagnostic split) or [decision] (a general tree), not both")
        return self
