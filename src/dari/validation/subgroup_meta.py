"""Subgroups across sites: random-effects meta-analysis of each subgroup level's AUROC and calibration slope.

Built only from what the sites already released (their protected subgroup results, `evaluate_subgroups`): no new
statistic leaves a site. A level a site suppressed is simply absent from that site's results, so each summary
names the sites it pools; a level released by no site has no summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dari.validation._common import Estimate, Result
from dari.validation.evaluate import ValidationMetrics
from dari.validation.meta_analysis import MetaAnalysis, meta_analyse, meta_analyse_auroc
from dari.validation.subgroups import SubgroupVariable


class SubgroupMeta(Result):
    """One level of a grouping variable pooled across the sites that released it."""

    variable: str
    level: str
    auroc: MetaAnalysis
    calibration_slope: MetaAnalysis


def meta_analyse_subgroups(
    by_site: Mapping[str, Sequence[SubgroupVariable]], *, confidence: float = 0.95
) -> tuple[SubgroupMeta, ...]:
    """Every (variable, level) released by at least one site, pooled by DerSimonian–Laird, in first-seen order."""
    released: dict[tuple[str, str], dict[str, ValidationMetrics]] = {}
    for site, variables in by_site.items():
        for variable in variables:
            for result in variable.levels:
                if not result.suppressed and result.metrics is not None:
                    released.setdefault((variable.variable, result.level), {})[site] = result.metrics
    out = []
    for (name, level), metrics in released.items():
        aurocs = {
            s: Estimate(**m.auroc.model_dump(include={"estimate", "se", "ci_low", "ci_high"}))
            for s, m in metrics.items()
        }
        slopes = {s: m.calibration.slope for s, m in metrics.items()}
        out.append(
            SubgroupMeta(
                variable=name,
                level=level,
                auroc=meta_analyse_auroc(aurocs, confidence=confidence),
                calibration_slope=meta_analyse(slopes, confidence=confidence),
            )
        )
    return tuple(out)
