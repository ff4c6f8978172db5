"""Economic evaluation of medical AI: cost-effectiveness, uncertainty and budget impact for NECA/HIRA submissions."""

from __future__ import annotations

from dari.econ.analysis import Analysis, analyse
from dari.econ.engine import StrategyResult, evaluate
from dari.econ.incremental import frontier, net_monetary_benefit
from dari.econ.loader import load_model
from dari.econ.psa import PsaResult, run_psa
from dari.econ.spec import ModelSpec
from dari.econ.validation import apply_validation, load_validation

__all__ = [
    "Analysis",
    "ModelSpec",
    "PsaResult",
    "StrategyResult",
    "analyse",
    "apply_validation",
    "evaluate",
    "frontier",
    "load_model",
    "load_validation",
    "net_monetary_benefit",
    "run_psa",
]
