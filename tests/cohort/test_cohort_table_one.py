"""Table 1 on the tiny CDM (cohort P1 and P8, see cohort_tiny_cdm) against numpy references; protection; pooling."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from cohort_tiny_cdm import DEFINITION, REQUEST

from dari.cdm.store import CdmStore, open_store
from dari.cohort import (
    CohortDefinitionError,
    UnknownConceptError,
    parse_definition,
    parse_table_one_request,
    pool_table_one,
    table_one,
)
from dari.cohort.pooling import HistogramBin, histogram_quantile, pool_counts, pool_mean_sd
from dari.cohort.summary import merge_bins
from dari.cohort.table_one import RawTableOne, protect_table_one, unprotected_table_one
from dari.disclosure import DisclosureRules, protect_count
from dari.errors import InputError

EXACT = DisclosureRules(min_cell=1, rounding_base=1)


@pytest.fixture(scope="module")
def raw_tiny(tiny_path: Path) -> RawTableOne:
    store = open_store(tiny_path)
    try:
        return unprotected_table_one(store, parse_definition(DEFINITION), parse_table_one_request(REQUEST), site="tiny")
    finally:
        store.close()


def _reference(values: list[float]) -> dict[str, float]:
    x = np.array(values)
    return {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "q1": float(np.percentile(x, 25)),
        "median": float(np.percentile(x, 50)),
        "q3": float(np.percentile(x, 75)),
    }


def test_cohort_table_one_exact_values(raw_tiny: RawTableOne) -> None:
    # Cohort: P1 (F, 60, eGFR latest 50 in mL/min, 70 in mg/dL) and P8 (M, 66, eGFR 40 and 41 on the same day)
    assert raw_tiny.n == 2
    assert raw_tiny.sex == {"F": 1, "M": 1, "unknown": 0}
    assert raw_tiny.comorbidities == {"hypertension up to index": 1, "hypertension any time": 2}
    for got, values in [
        (raw_tiny.age, [60, 66]),
        (raw_tiny.labs["eGFR"], [50, 41]),
        (raw_tiny.labs["eGFR any unit"], [70, 41]),
    ]:
        ref = _reference(values)
        assert got.n == 2
        for key, want in ref.items():
            assert getattr(got, key) == pytest.approx(want), key
    assert raw_tiny.age.bins == {12: 1, 13: 1}  # ages 60 and 66 on a 5-year grid
    assert raw_tiny.labs["eGFR"].bins == {10: 1, 8: 1}
    after = raw_tiny.labs["eGFR after index"]
    assert after.n == 0 and after.mean is None and after.bins == {}


def test_cohort_table_one_protected(tiny: CdmStore, raw_tiny: RawTableOne) -> None:
    # Prepare
    d, request = parse_definition(DEFINITION), parse_table_one_request(REQUEST)
    # Execute
    public = table_one(tiny, d, request, site="tiny")
    exact = protect_table_one(raw_tiny, d, request, site="tiny", rules=EXACT)
    # Assert: n = 2 is below 10, so no statistic and no histogram leaves
    assert public.n.shown == "<10" and not public.age.released
    assert public.age.mean is None and public.age.median is None and public.age.histogram == []
    assert all(lab.summary.mean is None and lab.summary.n.suppressed for lab in public.labs)
    assert all(row.persons.suppressed for row in public.sex + public.comorbidities)
    assert exact.age.released and exact.age.median == pytest.approx(63.0)
    assert [(b.low, b.high, b.persons.value) for b in exact.age.histogram] == [(60.0, 65.0, 1), (65.0, 70.0, 1)]
    assert exact.labs[0].unit == "mL/min/{1.73_m2}" and exact.labs[0].summary.sd == pytest.approx(math.sqrt(40.5))


def test_cohort_table_one_unknown_lab_unit(tiny: CdmStore) -> None:
    request = dict(
        REQUEST,
        labs=[{"name": "eGFR", "concept_set": "egfr", "unit": {"vocabulary_id": "UCUM", "concept_code": "ml/min"}}],
    )
    with pytest.raises(UnknownConceptError, match=r"labs\[0\]\.unit: UCUM ml/min"):
        unprotected_table_one(tiny, parse_definition(DEFINITION), parse_table_one_request(request), site="tiny")


def test_cohort_table_one_request_refused_with_path() -> None:
    with pytest.raises(CohortDefinitionError) as info:
        parse_table_one_request(dict(REQUEST, labs=[{"name": "x", "concept_set": "hba1c"}]))
    assert info.value.path == "labs[0].concept_set"
    with pytest.raises(CohortDefinitionError) as info:
        parse_table_one_request(dict(REQUEST, comorbidities=[{"name": "x", "concept_set": "htn", "lookback": 365}]))
    assert info.value.path == "comorbidities[0].lookback"
    twice = [{"name": "x", "concept_set": "htn"}, {"name": "x", "concept_set": "htn"}]
    with pytest.raises(CohortDefinitionError, match="duplicate name"):
        parse_table_one_request(dict(REQUEST, comorbidities=twice))


def test_cohort_merge_bins_reaches_min_cell() -> None:
    bins = {1: 3, 2: 4, 3: 5, 5: 2, 9: 1}
    merged = merge_bins(bins, 1.0, 5)
    assert merged == [(1.0, 3.0, 7), (3.0, 10.0, 8)]  # the short tail (5 and 9) joins the last bin
    assert sum(n for _, _, n in merged) == sum(bins.values())
    assert merge_bins({4: 3}, 2.0, 5) == []


def test_cohort_pool_mean_sd_matches_concatenation() -> None:
    # Prepare
    rng = np.random.default_rng(3)
    sites = [rng.normal(60, 12, n) for n in (40, 75, 12)]
    parts = [(len(x), float(x.mean()), float(x.std(ddof=1))) for x in sites]
    everything = np.concatenate(sites)
    # Execute
    mean, sd = pool_mean_sd(parts)
    # Assert
    assert mean == pytest.approx(everything.mean()) and sd == pytest.approx(everything.std(ddof=1))
    assert pool_mean_sd([]) == (None, None)


def test_cohort_histogram_quantile_of_mixture() -> None:
    def b(low: float, high: float, n: int) -> HistogramBin:
        return HistogramBin(low=low, high=high, persons=protect_count(n, EXACT))

    # site A: 10 in [0, 10), 30 in [10, 20); site B: 20 in [10, 20), 40 in [20, 30). CDF: 0.1 at 10, 0.6 at 20.
    bins = [b(0, 10, 10), b(10, 20, 30), b(10, 20, 20), b(20, 30, 40)]
    assert histogram_quantile(bins, 0.5) == pytest.approx(18.0)
    assert histogram_quantile(bins, 0.25) == pytest.approx(13.0)
    assert histogram_quantile(bins, 0.75) == pytest.approx(23.75)
    assert histogram_quantile(bins, 0.0) == pytest.approx(0.0) and histogram_quantile(bins, 1.0) == pytest.approx(30.0)
    assert histogram_quantile([], 0.5) is None


def test_cohort_pool_counts_bounds() -> None:
    rules = [DisclosureRules()] * 3
    pooled = pool_counts([protect_count(118), protect_count(4), protect_count(52)], rules)
    assert (pooled.value, pooled.shown, pooled.upper_bound) == (170, "≥ 170", 179)
    assert pool_counts([protect_count(118), protect_count(52)], rules[:2]).shown == "170"
    assert pool_counts([protect_count(3), protect_count(0)], rules[:2]).shown == "≤ 18"


def test_cohort_pool_table_one(raw_tiny: RawTableOne) -> None:
    # Prepare: the same tiny cohort released exactly by two "sites", and by a third under the default rules
    d, request = parse_definition(DEFINITION), parse_table_one_request(REQUEST)
    a = protect_table_one(raw_tiny, d, request, site="a", rules=EXACT)
    b = protect_table_one(raw_tiny, d, request, site="b", rules=EXACT)
    c = protect_table_one(raw_tiny, d, request, site="c", rules=DisclosureRules())
    # Execute
    pooled = pool_table_one([a, b, c])
    # Assert: ages 60, 66, 60, 66 -> mean 63, SD √12; site c's n < 10 released no statistics
    assert pooled.n.value == 4 and pooled.n.shown == "≥ 4"
    assert pooled.age.mean == pytest.approx(63.0) and pooled.age.sd == pytest.approx(math.sqrt(12))
    assert pooled.age.median == pytest.approx(histogram_quantile(a.age.histogram * 2, 0.5))
    assert pooled.age.sites_without_statistics == ["c"]
    assert pooled.comorbidities["hypertension any time"].value == 4
    assert pooled.labs["eGFR"].mean == pytest.approx(45.5) and pooled.labs["eGFR any unit"].median is None
    other = parse_table_one_request(dict(REQUEST, age_bin_width=10))
    with pytest.raises(InputError, match="another cohort definition or Table 1 request"):
        pool_table_one([a, protect_table_one(raw_tiny, d, other, site="d", rules=EXACT)])


def test_cohort_table_one_empty_cohort(tiny: CdmStore) -> None:
    # A site where nobody qualifies must answer with zeros, not fail the federated round.
    raw = copy.deepcopy(DEFINITION)
    raw["index"]["age"] = {"min": 100}
    d, request = parse_definition(raw), parse_table_one_request(REQUEST)
    result = table_one(tiny, d, request, site="tiny", rules=EXACT)
    assert result.n.value is None and result.n.suppressed  # 0 < min_cell 1
    assert result.age.mean is None and not result.age.released and result.age.histogram == []
    assert all(lab.summary.n.suppressed for lab in result.labs)
