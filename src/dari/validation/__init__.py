"""Statistics of model validation across sites: a pure library (no Flower, no I/O).

Per site, from y_true (0/1) and y_score (probabilities): AUROC with a DeLong CI, AUPRC, sensitivity /
specificity / PPV / NPV at a declared threshold with Wilson CIs, calibration-in-the-large and slope with CIs,
calibration curve and ECE, Brier and scaled Brier, decision curve, and all of them by subgroup with fairness
gaps (`evaluate`, `evaluate_subgroups`); `protect_metrics` keeps what may leave a site.

Across sites: DerSimonian–Laird random-effects meta-analysis with prediction intervals (`meta_analysis`), and
pooled metrics computed at the hub from site-level sufficient statistics only (`sufficient`, `histogram`,
`logistic`), which agree with `centralised_pooled_metrics` on the pooled rows. Undefined statistics warn
(`UndefinedMetricWarning`) and are NaN; nothing raises for a small or one-class site except disclosure control.
The maths, references and the release design: docs/validation-statistics.md.
"""

from dari.validation._common import Estimate, UndefinedMetricWarning
from dari.validation.calibration import (
    BrierScore,
    CalibrationBin,
    CalibrationCurve,
    CalibrationResult,
    brier_score,
    calibration,
    calibration_curve,
)
from dari.validation.decision_curve import DEFAULT_THRESHOLDS, DecisionCurve, decision_curve
from dari.validation.discrimination import AurocResult, auroc, average_precision
from dari.validation.evaluate import ValidationMetrics, ValidationSpec, evaluate, protect_metrics, site_metrics
from dari.validation.histogram import ScoreHistogram
from dari.validation.logistic import (
    LogisticFit,
    LogisticParams,
    LogisticStepStats,
    OffsetMode,
    fit_pooled_logistic,
    newton_fit,
    site_logistic_step,
)
from dari.validation.meta_analysis import MetaAnalysis, dersimonian_laird, meta_analyse, meta_analyse_auroc
from dari.validation.subgroup_meta import SubgroupMeta, meta_analyse_subgroups
from dari.validation.subgroups import FairnessGap, SubgroupResult, SubgroupVariable, age_bands, evaluate_subgroups
from dari.validation.sufficient import (
    PooledMetrics,
    SiteSufficientStatistics,
    centralised_pooled_metrics,
    federated_pooled_metrics,
    pool_site_statistics,
    site_sufficient_statistics,
)
from dari.validation.thresholds import (
    ConfusionCounts,
    Proportion,
    ThresholdMetrics,
    confusion_counts,
    threshold_metrics,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AurocResult",
    "BrierScore",
    "CalibrationBin",
    "CalibrationCurve",
    "CalibrationResult",
    "ConfusionCounts",
    "DecisionCurve",
    "Estimate",
    "FairnessGap",
    "LogisticFit",
    "LogisticParams",
    "LogisticStepStats",
    "MetaAnalysis",
    "OffsetMode",
    "PooledMetrics",
    "Proportion",
    "ScoreHistogram",
    "SiteSufficientStatistics",
    "SubgroupMeta",
    "SubgroupResult",
    "SubgroupVariable",
    "ThresholdMetrics",
    "UndefinedMetricWarning",
    "ValidationMetrics",
    "ValidationSpec",
    "age_bands",
    "auroc",
    "average_precision",
    "brier_score",
    "calibration",
    "calibration_curve",
    "centralised_pooled_metrics",
    "confusion_counts",
    "decision_curve",
    "dersimonian_laird",
    "evaluate",
    "evaluate_subgroups",
    "federated_pooled_metrics",
    "fit_pooled_logistic",
    "meta_analyse",
    "meta_analyse_auroc",
    "meta_analyse_subgroups",
    "newton_fit",
    "pool_site_statistics",
    "protect_metrics",
    "site_logistic_step",
    "site_metrics",
    "site_sufficient_statistics",
    "threshold_metrics",
]
