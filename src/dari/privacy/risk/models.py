"""Pydantic records of risk figures: what a pseudonymisation appropriateness review (적정성 검토) files.

Every figure is a count, a share or a level number; no row value ever enters these models, and class sizes
below 10 are only ever reported together as "<10" so that the record itself cannot single anyone out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# (label, lowest size, highest size) of the class-size bins; sizes below 10 are pooled on purpose
SIZE_BINS: tuple[tuple[str, int, int], ...] = (
    ("<10", 1, 9),
    ("10-19", 10, 19),
    ("20-49", 20, 49),
    ("50-99", 50, 99),
    ("100-999", 100, 999),
    ("≥1000", 1000, 2**62),
)


class ClassSizeBin(BaseModel):
    """How many equivalence classes, holding how many records, fall into one class-size bin."""

    model_config = ConfigDict(frozen=True)
    size: str
    classes: int
    records: int


class RiskFigures(BaseModel):
    """ARX's three figures for one attacker model (shares in [0, 1])."""

    model_config = ConfigDict(frozen=True)
    records_at_risk: float = Field(description="share of records whose individual risk exceeds the threshold")
    highest_risk: float = Field(description="largest individual re-identification probability")
    average_risk: float = Field(description="expected share of records re-identified (success rate)")


class RiskReport(BaseModel):
    """Re-identification risk of one table over its declared quasi-identifiers (counts and shares only)."""

    model_config = ConfigDict(frozen=True)
    records: int
    classes: int
    quasi_identifiers: list[str]
    k: int = Field(description="k-anonymity: size of the smallest equivalence class")
    class_sizes: list[ClassSizeBin]
    sensitive: str | None = None
    l_distinct: int | None = Field(None, description="fewest distinct sensitive values in any class")
    l_entropy: float | None = Field(None, description="exp(min over classes of the sensitive-value entropy)")
    t_closeness: float | None = Field(None, description="largest EMD between a class and the whole table")
    t_distance: Literal["equal", "ordered"] | None = None
    threshold: float = Field(description="individual-risk threshold used for 'records at risk'")
    prosecutor: RiskFigures
    journalist: RiskFigures
    journalist_population: bool = Field(description="False: no population table given, journalist = prosecutor")
    marketer: float

    def to_json(self) -> str:
        """Serialise to indented JSON."""
        return self.model_dump_json(indent=2)

    def to_html(self, lang: Literal["ko", "en", "both"] = "both") -> str:
        """Render as a standalone HTML page in Korean, English or both side by side."""
        from dari.privacy.risk.html import render_risk  # the renderer imports these models

        return render_risk(self, lang)


class Loss(BaseModel):
    """Information loss of a generalisation + suppression (see docs/reidentification-risk.md)."""

    model_config = ConfigDict(frozen=True)
    precision: float = Field(description="1 - Prec (Sweeney 2002); suppressed records count as fully generalised")
    discernibility: int = Field(description="DM (Bayardo & Agrawal 2005): Σ|E|² kept + n·suppressed")
    discernibility_normalised: float = Field(description="DM / n², in (0, 1]")
    suppressed_share: float


class Policy(BaseModel):
    """The thresholds the release was held to."""

    model_config = ConfigDict(frozen=True)
    k: int
    max_suppression: float
    threshold: float
    metric: Literal["precision", "discernibility"]


class QuasiIdentifierLevel(BaseModel):
    """One quasi-identifier, its hierarchy and the generalisation level chosen for release."""

    model_config = ConfigDict(frozen=True)
    column: str
    hierarchy: str
    level: int
    max_level: int
    level_ko: str
    level_en: str


class ReviewReport(BaseModel):
    """The record of one k-anonymisation: policy, levels, suppression, loss, risk before and after."""

    model_config = ConfigDict(frozen=True)
    policy: Policy
    quasi_identifiers: list[QuasiIdentifierLevel]
    records_in: int
    records_out: int
    suppressed: int
    loss: Loss
    before: RiskReport
    after: RiskReport
    nodes_evaluated: int
    nodes_total: int

    def to_json(self) -> str:
        """Serialise to indented JSON."""
        return self.model_dump_json(indent=2)

    def to_html(self, lang: Literal["ko", "en", "both"] = "both") -> str:
        """Render as a standalone HTML page in Korean, English or both side by side."""
        from dari.privacy.risk.html import render_review

        return render_review(self, lang)


def size_bins(histogram: dict[int, int]) -> list[ClassSizeBin]:
    """Pool an exact class-size histogram (size → #classes) into SIZE_BINS, omitting empty bins."""
    out = []
    for label, low, high in SIZE_BINS:
        classes = sum(c for s, c in histogram.items() if low <= s <= high)
        records = sum(s * c for s, c in histogram.items() if low <= s <= high)
        if classes:
            out.append(ClassSizeBin(size=label, classes=classes, records=records))
    return out
