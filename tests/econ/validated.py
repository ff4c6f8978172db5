"""A real `dari validate` results document built from dari.validation on synthetic rows (no Flower run)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dari.cli.validate import result_json
from dari.disclosure import DisclosureRules, protect_count
from dari.federation.flower.jobs import SiteReport, ValidationRun
from dari.validation import (
    UndefinedMetricWarning,
    ValidationSpec,
    evaluate,
    federated_pooled_metrics,
    protect_metrics,
    site_sufficient_statistics,
)

SHA = "ab" * 32


def build_results(threshold: float = 0.3) -> dict[str, Any]:
    """Two ok sites and one refused; pooled over the two (written by the same function `dari validate` uses)."""
    rng = np.random.default_rng(5)
    spec, rules = ValidationSpec(threshold=threshold), DisclosureRules()
    data = {}
    for site, n, shift, prev in (("site-1", 3000, -1.8, 0.15), ("site-2", 2000, -1.0, 0.25)):
        y = (rng.random(n) < prev).astype(np.int64)
        p = 1.0 / (1.0 + np.exp(-(shift + rng.normal(size=n) + 1.6 * y)))
        data[site] = (y, p)
    sites: dict[str, SiteReport] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for s, (y, p) in data.items():
            sites[s] = SiteReport(
                site_id=s,
                dataset_id=f"{s}-cdm",
                status="ok",
                grant_id="grant-0042",
                model_sha256=SHA,
                cohort=protect_count(len(y), rules),
                metrics=protect_metrics(evaluate(y, p, spec), rules),
                statistics=site_sufficient_statistics(y, p, spec, rules),
            )
        pooled = federated_pooled_metrics(list(data.values()), spec, rules)
    sites["site-9"] = SiteReport(site_id="site-9", status="refused", reason="no grant: expired")
    run = ValidationRun(
        job_id="job-econ0001",
        model_sha256=SHA,
        requester="researcher",
        sites=sites,
        covered=tuple(data),
        refused=("site-9",),
        failed=(),
        pooled=pooled,
        engine="simulation",
    )
    return result_json(run, None, threshold=threshold)
