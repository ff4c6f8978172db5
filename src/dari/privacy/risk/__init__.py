"""Re-identification risk as ARX reports it, and k-anonymity by generalisation + suppression.

``assess`` measures k, l, t and prosecutor/journalist/marketer risk; ``enforce_k`` searches the generalisation
lattice of declared hierarchies for the lowest-loss k-anonymous release. See docs/reidentification-risk.md.
"""

from dari.privacy.risk.enforce import Anonymised, enforce_k
from dari.privacy.risk.hierarchy import (
    Hierarchy,
    Level,
    age_bands,
    date_to_year,
    korean_address,
    postcode_prefix,
    split_korean_address,
    suppress_only,
)
from dari.privacy.risk.metrics import assess
from dari.privacy.risk.models import (
    ClassSizeBin,
    Loss,
    Policy,
    QuasiIdentifierLevel,
    ReviewReport,
    RiskFigures,
    RiskReport,
)

__all__ = [
    "Anonymised",
    "ClassSizeBin",
    "Hierarchy",
    "Level",
    "Loss",
    "Policy",
    "QuasiIdentifierLevel",
    "ReviewReport",
    "RiskFigures",
    "RiskReport",
    "age_bands",
    "assess",
    "date_to_year",
    "enforce_k",
    "korean_address",
    "postcode_prefix",
    "split_korean_address",
    "suppress_only",
]
