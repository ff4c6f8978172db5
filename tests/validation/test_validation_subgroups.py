"""Subgroup metrics with suppression of small subgroups, and fairness gaps."""

from __future__ import annotations

import numpy as np
import pytest
from validation_sites import make_site

from dari.disclosure import DisclosureRules
from dari.validation import UndefinedMetricWarning, ValidationSpec, age_bands, evaluate, evaluate_subgroups


def test_subgroup_metrics_equal_evaluate_on_the_subset_and_gaps_are_max_minus_min() -> None:
    # Prepare: the model separates better in women than in men
    rng = np.random.default_rng(0)
    yf, sf = make_site(rng, 4000, separation=2.2, prevalence=0.2)
    ym, sm = make_site(rng, 4000, separation=0.9, prevalence=0.2)
    y, s = np.r_[yf, ym], np.r_[sf, sm]
    sex = np.r_[["F"] * 4000, ["M"] * 4000]
    spec = ValidationSpec(threshold=0.2)
    # Execute
    (result,) = evaluate_subgroups(y, s, {"sex": sex}, spec)
    # Assert
    f, m = result.levels
    assert (f.level, m.level) == ("F", "M") and not f.suppressed and not m.suppressed
    assert f.metrics is not None and m.metrics is not None
    assert f.metrics.auroc == evaluate(yf, sf, spec).auroc
    gaps = {g.metric: g for g in result.gaps}
    assert gaps["auroc"].gap == pytest.approx(f.metrics.auroc.estimate - m.metrics.auroc.estimate)
    assert (gaps["auroc"].highest, gaps["auroc"].lowest) == ("F", "M")
    slope_f, slope_m = f.metrics.calibration.slope.estimate, m.metrics.calibration.slope.estimate
    assert gaps["calibration_slope"].gap == pytest.approx(abs(slope_f - slope_m))
    assert gaps["sensitivity"].levels == 2


def test_small_subgroup_is_suppressed_with_its_complement() -> None:
    # Prepare: three age bands; the 90+ band has only 5 events
    rng = np.random.default_rng(1)
    parts = [make_site(rng, 3000, prevalence=0.2), make_site(rng, 3000, prevalence=0.2)]
    y90 = np.array([1] * 5 + [0] * 200)
    s90 = rng.uniform(0, 1, y90.size)
    y = np.concatenate([parts[0][0], parts[1][0], y90])
    s = np.concatenate([parts[0][1], parts[1][1], s90])
    ages = np.r_[rng.integers(40, 50, 3000), rng.integers(60, 70, 3000), rng.integers(90, 99, y90.size)]
    # Execute
    with pytest.warns(UndefinedMetricWarning, match="fairness gap of auroc, sensitivity"):
        (result,) = evaluate_subgroups(y, s, {"age": age_bands(ages)}, rules=DisclosureRules(min_cell=10))
    # Assert: 90+ is suppressed and so is one more band, so total − released gives no small cell
    by_level = {lv.level: lv for lv in result.levels}
    assert set(by_level) == {"40-49", "60-69", "90+"}
    assert by_level["90+"].suppressed and by_level["90+"].metrics is None
    assert sum(lv.suppressed for lv in result.levels) == 2
    assert {g.metric for g in result.gaps if g.levels < 2} == {g.metric for g in result.gaps}


def test_age_bands() -> None:
    assert age_bands([0, 9, 10, 65, 89, 90, 104]).tolist() == ["0-9", "0-9", "10-19", "60-69", "80-89", "90+", "90+"]


def test_groups_must_label_every_row() -> None:
    with pytest.raises(ValueError, match="one label per row"):
        evaluate_subgroups([0, 1], [0.2, 0.7], {"sex": ["F"]})


def test_subgroup_2x2_tables_are_withheld_together() -> None:
    # Prepare: two large sex groups; at a high threshold women have few false positives
    rng = np.random.default_rng(2)
    yf, sf = make_site(rng, 3000, shift=-3.0, prevalence=0.2, separation=2.5)
    ym, sm = make_site(rng, 3000, shift=-1.0, prevalence=0.2)
    y, s = np.r_[yf, ym], np.r_[sf, sm]
    spec = ValidationSpec(threshold=0.6)
    fp_f = int(((sf >= 0.6) & (yf == 0)).sum())
    # Execute
    with pytest.warns(UndefinedMetricWarning, match="sensitivity"):
        (result,) = evaluate_subgroups(y, s, {"sex": np.r_[["F"] * 3000, ["M"] * 3000]}, spec)
    # Assert: F's table has a small cell; M's alone would be the site's table minus F's, so both are withheld
    assert fp_f < 10
    f, m = result.levels
    assert f.metrics is not None and m.metrics is not None
    assert f.metrics.threshold is None and m.metrics.threshold is None
    assert f.metrics.auroc.estimate > 0.5
