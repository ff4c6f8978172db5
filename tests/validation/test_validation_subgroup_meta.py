"""Subgroups across sites: each released level pooled by DerSimonian–Laird from the sites' released results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dari.disclosure import DisclosureRules
from dari.validation import (
    UndefinedMetricWarning,
    ValidationSpec,
    evaluate_subgroups,
    meta_analyse,
    meta_analyse_auroc,
    meta_analyse_subgroups,
)


def _site(seed: int, n: int, prevalence: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.5)))
    return y, p, {"sex": rng.choice(np.array(["F", "M"]), size=n)}


def test_subgroup_meta_equals_dersimonian_laird_of_the_released_levels() -> None:
    # Prepare: two large sites and one whose "M" level is too small to release
    spec, rules = ValidationSpec(), DisclosureRules()
    small_y, small_p, small_g = _site(3, 400, 0.04)
    small_g["sex"][:] = "F"
    small_g["sex"][:5] = "M"
    released = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for name, (y, p, g) in {
            "site-1": _site(1, 3000, 0.2),
            "site-2": _site(2, 2000, 0.3),
            "site-3": (small_y, small_p, small_g),
        }.items():
            released[name] = evaluate_subgroups(y, p, g, spec, rules)
        # Execute
        metas = {(m.variable, m.level): m for m in meta_analyse_subgroups(released)}
    # Assert: "M" pools sites 1 and 2 only; each summary is DerSimonian–Laird of the released estimates
    assert set(metas) == {("sex", "F"), ("sex", "M")}
    for level in ("F", "M"):
        got = metas[("sex", level)]
        site_levels = {s: next(lv for lv in v[0].levels if lv.level == level) for s, v in released.items()}
        used = {s: lv.metrics for s, lv in site_levels.items() if not lv.suppressed and lv.metrics is not None}
        assert set(got.auroc.sites) == set(used)
        expected_auroc = meta_analyse_auroc({s: m.auroc for s, m in used.items()})
        expected_slope = meta_analyse({s: m.calibration.slope for s, m in used.items()})
        assert got.auroc.estimate == pytest.approx(expected_auroc.estimate, abs=1e-12)
        assert got.calibration_slope.estimate == pytest.approx(expected_slope.estimate, abs=1e-12)
    assert "site-3" not in metas[("sex", "M")].auroc.sites and metas[("sex", "M")].auroc.k == 2


def test_subgroup_meta_of_nothing_released_is_empty() -> None:
    assert meta_analyse_subgroups({}) == ()
