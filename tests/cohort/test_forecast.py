"""Recruitment forecast: monthly entries on the hand-checked tiny CDM, the model against a simulation, protection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cohort_tiny_cdm import definition

from dari.cdm.store import CdmStore
from dari.cohort.definition import parse_definition
from dari.cohort.forecast import forecast_total, recruitment, unprotected_recruitment
from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError
from dari.federation.ledger import open_site_ledger


def test_forecast_months_hold_each_person_at_their_cohort_entry(tiny: CdmStore) -> None:
    # Prepare: P1 enters 2020-03-01 and P8 2021-01-01 (cohort_tiny_cdm); the data run to the end of 2022
    d = parse_definition(definition())
    # Execute
    raw = unprotected_recruitment(tiny, d, site="tiny", lookback_months=36)
    # Assert
    assert raw.months[0] == "2020-01" and raw.months[-1] == "2022-12" and len(raw.months) == 36
    found = {m: c for m, c in zip(raw.months, raw.counts, strict=True) if c}
    assert found == {"2020-03": 1, "2021-01": 1}
    assert sorted(int(i) for m in found for i in raw.members[m]) == [1, 8]


def test_forecast_lookback_shorter_than_history_drops_older_entries(tiny: CdmStore) -> None:
    raw = unprotected_recruitment(tiny, parse_definition(definition()), site="tiny", lookback_months=24)
    assert sum(raw.counts) == 1 and raw.counts[raw.months.index("2021-01")] == 1


def test_forecast_poisson_months_match_a_simulated_poisson_gamma_reference() -> None:
    # Prepare: twelve months of 10 (no overdispersion); reference: λ ~ Gamma(S + ½, 1/T), total ~ Poisson(6λ)
    counts = [10] * 12
    rng = np.random.default_rng(7)
    lam = rng.gamma(120.5, 1 / 12, 200_000)
    sims = rng.poisson(lam * 6)
    # Execute
    fc = forecast_total(counts, 6, level=0.9)
    # Assert
    assert fc.model == "poisson-gamma" and fc.dispersion == 1.0
    assert fc.expected == pytest.approx(120.5 * 6 / 12)
    assert fc.low == pytest.approx(np.quantile(sims, 0.05), abs=1)
    assert fc.high == pytest.approx(np.quantile(sims, 0.95), abs=1)


def test_forecast_overdispersed_months_widen_the_interval_by_pearson_dispersion() -> None:
    # Prepare: same total, very uneven months
    even, uneven = [10] * 12, [0, 30, 0, 30, 0, 30, 0, 0, 30, 0, 0, 0]
    y = np.array(uneven, float)
    phi = ((y - y.mean()) ** 2).sum() / y.mean() / 11
    # Execute
    a, b = forecast_total(even, 6), forecast_total(uneven, 6)
    # Assert
    assert b.model == "negative-binomial" and b.dispersion == pytest.approx(phi)
    assert b.expected == pytest.approx(a.expected)
    assert b.high - b.low > 2.5 * (a.high - a.low)


@pytest.mark.parametrize(("counts", "horizon", "level"), [([3], 6, 0.9), ([1, 2], 0, 0.9), ([1, 2], 6, 1.0)])
def test_forecast_refuses_bad_parameters(counts: list[int], horizon: int, level: float) -> None:
    with pytest.raises(InputError):
        forecast_total(counts, horizon, level)


def test_forecast_release_protects_every_count(tiny: CdmStore, tmp_path: Path) -> None:
    # Prepare
    d = parse_definition(definition())
    rules = DisclosureRules(min_cell=10, rounding_base=5)
    # Execute: once without and once under a site's release ledger
    plain = recruitment(tiny, d, site="tiny", lookback_months=36, horizon_months=12, rules=rules)
    ledger = open_site_ledger(tmp_path, grant_id=None, requester="test", rules=rules)
    try:
        kept = recruitment(tiny, d, site="tiny", lookback_months=36, rules=rules, ledger=ledger)
    finally:
        ledger.close()
    # Assert: single persons never show; the forecast's own figures are protected counts too
    for result in (plain, kept):
        assert len(result.monthly) == 36 and result.data_through == "2022-12" and not result.monthly_withheld
        assert all(m.persons.shown == "<10" for m in result.monthly)
        assert result.expected.shown == "<10" and result.low.suppressed and result.lookback_persons.suppressed
    assert '"value":1' not in plain.model_dump_json()


def _earlier_release(folder: Path, rules: DisclosureRules, ids: list[int]) -> None:
    ledger = open_site_ledger(folder, grant_id=None, requester="earlier", rules=rules)
    try:
        with ledger.release() as release:
            release.count("earlier", np.array(ids, np.int64))
    finally:
        ledger.close()


def test_forecast_ledger_withholds_only_a_differencing_monthly_history(tiny: CdmStore, tmp_path: Path) -> None:
    # Prepare: an earlier released cell of 10 persons holding P8 (who alone enters in 2021-01) and 9 others:
    # month {P8} differs from it by 9 (refused), the lookback {P1, P8} by 10 (allowed)
    rules = DisclosureRules(min_cell=10, rounding_base=5)
    _earlier_release(tmp_path, rules, [8, *range(101, 110)])
    ledger = open_site_ledger(tmp_path, grant_id=None, requester="test", rules=rules)
    # Execute
    try:
        result = recruitment(tiny, parse_definition(definition()), site="tiny", lookback_months=36, ledger=ledger)
    finally:
        ledger.close()
    # Assert: the forecast leaves, its monthly history does not, and says why
    assert result.monthly == [] and "differencing" in result.monthly_withheld
    assert result.expected.shown == "<10" and result.data_through == "2022-12"


def test_forecast_ledger_refuses_a_lookback_that_differences_an_earlier_release(tiny: CdmStore, tmp_path: Path) -> None:
    rules = DisclosureRules(min_cell=10, rounding_base=5)
    _earlier_release(tmp_path, rules, [1, 8, *range(101, 109)])  # differs from the lookback {P1, P8} by 8
    ledger = open_site_ledger(tmp_path, grant_id=None, requester="test", rules=rules)
    try:
        with pytest.raises(DisclosureRefusedError, match="differencing"):
            recruitment(tiny, parse_definition(definition()), site="tiny", lookback_months=36, ledger=ledger)
    finally:
        ledger.close()


def test_forecast_default_lookback_is_the_whole_history_so_its_persons_are_the_cohorts(tiny: CdmStore) -> None:
    raw = unprotected_recruitment(tiny, parse_definition(definition()), site="tiny")
    assert raw.months[-1] == "2022-12" and raw.months[0] < "2011-01"  # from the first observation month on
    assert sum(raw.counts) == 2  # P1 and P8: the cohort of cohort_tiny_cdm
