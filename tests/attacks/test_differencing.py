"""Attacker's playbook: differencing, isolation and averaging against a site's releases (issue 13, leak 3).

Each test is one attack. Its docstring says what the attacker does, what leaked before the release ledger and the
keyed noise, and what happens now. The cohort attacks run on a real DuckDB CDM (differencing_cdm: person k is
aged 39 + k), the ledger is the real SQLite ledger in a site folder, the validation attacks release through the
same site-side functions a Flower validation job calls.
"""

from __future__ import annotations

import itertools
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from differencing_cdm import PERSONS, age, build_cdm, cohort, egfr, table_one_request

from dari.cdm.store import CdmStore, open_store
from dari.cohort import feasibility, table_one
from dari.cohort.definition import CohortDefinition
from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError
from dari.federation.ledger import LEDGER_DIR, ReleaseLedger, Scope, open_site_ledger
from dari.validation import ValidationSpec, evaluate_subgroups, site_metrics, site_sufficient_statistics

RULES = DisclosureRules()  # the site floor: min_cell 10, rounding to 5


@pytest.fixture(scope="module")
def cdm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 40-person CDM (read-only use)."""
    return build_cdm(tmp_path_factory.mktemp("differencing") / "cdm.duckdb")


@pytest.fixture
def store(cdm_path: Path) -> Any:
    """The CDM opened as a site opens it."""
    s = open_store(cdm_path)
    yield s
    s.close()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A fresh site folder (its ledger starts empty)."""
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


def _ledger(site: Path, requester: str = "mallory", grant: str = "g-1", scope: Scope = "site") -> ReleaseLedger:
    return open_site_ledger(site, grant_id=grant, requester=requester, rules=RULES, scope=scope)


def _feasibility(store: CdmStore, site: Path, definition: CohortDefinition, requester: str = "mallory") -> int | None:
    """The released cohort count of one federated feasibility query (None: refused by the site; 0: "<10")."""
    ledger = _ledger(site, requester)
    try:
        return feasibility(store, definition, site="s", rules=RULES, ledger=ledger).cohort_persons.value or 0
    except DisclosureRefusedError:
        return None
    finally:
        ledger.close()


def test_table_one_eleven_then_ten_does_not_give_the_eleventh(store: CdmStore, site: Path) -> None:
    """Attack: Table 1 of persons aged 65–75 (11), then of 65–74 (10); 11·mean₁₁ − 10·mean₁₀ is the eleventh's age,
    and the same for eGFR. Before: both released, the 75-year-old's age and eGFR recovered exactly. Now: the
    second release differs from the first by one person, so the site refuses it and records nothing."""
    request = table_one_request()
    # What leaked before: without the ledger (local use keeps today's behaviour) the arithmetic works
    plain = [table_one(store, cohort(65, hi), request, site="s", rules=RULES) for hi in (75, 74)]
    assert plain[0].age.mean is not None and plain[1].age.mean is not None
    assert 11 * plain[0].age.mean - 10 * plain[1].age.mean == pytest.approx(75)
    e0, e1 = plain[0].labs[0].summary.mean, plain[1].labs[0].summary.mean
    assert e0 is not None and e1 is not None and 11 * e0 - 10 * e1 == pytest.approx(egfr(36))
    # Now, under the site's ledger
    ledger = _ledger(site)
    first = table_one(store, cohort(65, 75), request, site="s", rules=RULES, ledger=ledger)
    assert first.n.value is not None
    with pytest.raises(DisclosureRefusedError, match="differencing rule"):
        table_one(store, cohort(65, 74), request, site="s", rules=RULES, ledger=ledger)
    assert ledger.releases() == 1  # the refused release left nothing on record


def test_table_one_subset_padded_elsewhere_is_refused(store: CdmStore, site: Path) -> None:
    """Variant: the attacker keeps n the same (65–75 then 64–74: one person out, one in) so the counts match.
    Before: the two means give age₇₅ − age₆₄ = 11. Now: |A △ B| = 2, refused just the same."""
    ledger = _ledger(site)
    table_one(store, cohort(65, 75), table_one_request(), site="s", rules=RULES, ledger=ledger)
    reasons = []
    for lo, hi in ((64, 74), (65, 74), (61, 71)):  # 2, 1 and 8 persons apart: the reason must not say which
        with pytest.raises(DisclosureRefusedError) as refused:
            table_one(store, cohort(lo, hi), table_one_request(), site="s", rules=RULES, ledger=ledger)
        reasons.append(str(refused.value))
    assert len(set(reasons)) == 1


def _attacker_bisects(answers: dict[int, int | None]) -> int | None:
    """The attacker's inference: where two neighbouring cohorts (one person apart) show different rounded counts,
    the larger one is exactly at the rounding boundary (5k + 3 with halves rounded up): returns that exact count."""
    for a in sorted(answers):
        here, there = answers[a], answers.get(a + 1)
        if here is not None and there is not None and here != there:
            return here - 2  # e.g. shown 25 → 20 as the cohort loses one: it was 23
    return None


def test_feasibility_bisection_near_a_rounding_boundary_learns_no_exact_count(store: CdmStore, site: Path) -> None:
    """Attack: 21 feasibility queries "T2DM aged ≥ a" for a = 45..65, each one person apart, watching where the
    count rounded to 5 flips. Before: the flip gave an exact count (17 queries were enough). Now: a query whose
    cohort differs by 1–9 persons from an answered one is refused, so no two neighbours are both answered, and the
    answered ones carry keyed noise; the attacker's inference has nothing to work on."""
    # What leaked before (no ledger: plain rounding)
    plain = {a: feasibility(store, cohort(a), site="s", rules=RULES).cohort_persons.value for a in range(45, 66)}
    exact = _attacker_bisects(plain)
    assert exact is not None and exact in {PERSONS - a + 40 for a in range(45, 66)}
    # Now
    answers = {a: _feasibility(store, site, cohort(a)) for a in range(45, 66)}
    answered = [a for a, v in answers.items() if v is not None]
    assert _attacker_bisects(answers) is None
    assert all(b - a >= RULES.min_cell for a, b in itertools.pairwise(answered))
    assert len(answered) <= 3  # 21 queries, at most one answer per 10 persons of difference


def test_feasibility_one_patients_diabetes_status_by_exclusion(store: CdmStore, site: Path) -> None:
    """Attack: the count of T2DM patients aged 70–79, then of those without hypertension, then of 70–78 without
    hypertension: the pair that differs by one person tells whether the 79-year-old has hypertension. Now: every
    query after the first whose cohort is within nine persons of an answered one is refused."""
    assert _feasibility(store, site, cohort(70, 79)) is not None
    assert _feasibility(store, site, cohort(70, 79, no_htn=True)) is None  # 10 minus the 3 with hypertension
    assert _feasibility(store, site, cohort(70, 78, no_htn=True)) is None


def test_feasibility_repeated_fifty_times_cannot_be_averaged(store: CdmStore, site: Path) -> None:
    """Attack: ask the same query 50 times and average the answers to cancel the noise. Before there was no noise
    (rounding only); with fresh random noise each time the mean would converge on the truth. Now: the noise is a
    keyed function of the person set, so all 50 answers are the same and their mean is the one answer."""
    answers = [_feasibility(store, site, cohort(50)) for _ in range(50)]
    assert len(set(answers)) == 1 and answers[0] is not None
    assert np.mean([a for a in answers if a is not None]) == answers[0]


def test_feasibility_rephrased_cohort_gets_the_same_answer(store: CdmStore, site: Path) -> None:
    """Attack: phrase the same cohort differently (other name, an explicit upper age bound, or as "no hypertension"
    when nobody in it has any) hoping each phrasing draws fresh noise to average. Now: the same set gets the same
    noise, so every phrasing is answered, identically."""
    variants = [cohort(41), cohort(41, 130, name="again"), cohort(41, 79, name="spelled out")]
    answers = [_feasibility(store, site, d) for d in variants]
    assert answers[0] is not None and len(set(answers)) == 1


def test_feasibility_noise_moves_counts_off_plain_rounding_but_stays_bounded(store: CdmStore, site: Path) -> None:
    """Check of the noise itself over many distinct cohorts (each 10+ persons apart would be needed for answers, so
    this reads the ledger's noise directly): some counts move off plain rounding, none by more than cap + 2."""
    ledger = _ledger(site)
    shown, truth = [], []
    for n in range(10, 200):
        with ledger.release() as release:
            count = release.count("n", np.arange(n) + 1000 * n)  # disjoint sets: all answered
        assert count.value is not None
        shown.append(count.value)
        truth.append(n)
    plain = [max((n + 2) // 5 * 5, 10) for n in truth]
    assert any(s != p for s, p in zip(shown, plain, strict=True))
    assert max(abs(s - n) for s, n in zip(shown, truth, strict=True)) <= ledger.noise_spec.cap + 2


def _rows(n: int = 200, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A validation cohort whose "model" outputs a lab value: p = eGFR / 150."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1) * 13
    lab = rng.uniform(15, 120, n).round()
    y = rng.random(n) < 0.3
    return ids, y, lab / 150


def test_two_validations_one_patient_apart_are_refused(site: Path) -> None:
    """Attack: validate on a cohort, then on the same cohort narrowed by one patient. Before: events and Σ(p − y)²
    differ by that patient's y and (p − y)², and with a model that outputs a lab value p gives the eGFR. Now: the
    second release's rows differ from the first's by one person: refused, nothing recorded."""
    ids, y, p = _rows()
    spec = ValidationSpec(threshold=0.3)
    # What leaked before
    a, b = site_sufficient_statistics(y, p, spec, RULES), site_sufficient_statistics(y[1:], p[1:], spec, RULES)
    y0 = a.events - b.events
    p0 = y0 + np.sqrt(a.squared_error_sum - b.squared_error_sum) * (1 if y0 == 0 else -1)
    assert y0 == int(y[0]) and p0 * 150 == pytest.approx(p[0] * 150)
    # Now
    ledger = _ledger(site)
    site_sufficient_statistics(y, p, spec, RULES, ledger=ledger, person_ids=ids)
    with pytest.raises(DisclosureRefusedError):
        site_sufficient_statistics(y[1:], p[1:], spec, RULES, ledger=ledger, person_ids=ids[1:])
    with pytest.raises(DisclosureRefusedError):
        site_metrics(y[1:], p[1:], spec, RULES, ledger=ledger, person_ids=ids[1:])
    assert ledger.releases() == 1


def test_two_near_identical_thresholds_do_not_give_one_outcome(site: Path) -> None:
    """Attack: one validation at threshold 0.300 and one at 0.305, with a single patient (the 75-year-old) scored
    in between; the change in sensitivity and specificity tells whether that patient had the outcome. Before:
    both 2×2 tables released. Now: the second table's cells differ from the first's by one person: refused."""
    ids, y, p = _rows()
    p = np.where(np.abs(p - 0.3025) < 0.003, 0.2, p)  # nobody else near the two thresholds
    p[0] = 0.3025
    first, second = ValidationSpec(threshold=0.3), ValidationSpec(threshold=0.305)
    plain = [site_metrics(y, p, s, RULES).threshold for s in (first, second)]
    assert plain[0] is not None and plain[1] is not None
    assert plain[0].counts.tp - plain[1].counts.tp == int(y[0])  # what leaked before
    ledger = _ledger(site)
    with ledger.release():  # the first job: its metrics and its pooling record, one release
        assert site_metrics(y, p, first, RULES, ledger=ledger, person_ids=ids).threshold is not None
        site_sufficient_statistics(y, p, first, RULES, ledger=ledger, person_ids=ids)
    with pytest.raises(DisclosureRefusedError):
        site_metrics(y, p, second, RULES, ledger=ledger, person_ids=ids)
    with pytest.raises(DisclosureRefusedError):  # the histogram anchored at the new threshold: a bin one apart
        site_sufficient_statistics(y, p, second, RULES, ledger=ledger, person_ids=ids)


def test_subgroup_minus_one_is_refused(site: Path) -> None:
    """Variant: release subgroups by sex, then again with one woman relabelled "unknown": the two "F" levels differ
    by her alone. Now: refused (the level's rows and classes are on record)."""
    ids, y, p = _rows()
    sex = np.where(ids % 2 == 0, "F", "M")
    ledger = _ledger(site)
    evaluate_subgroups(y, p, {"sex": sex}, ValidationSpec(), RULES, ledger=ledger, person_ids=ids)
    moved = sex.copy()
    moved[np.flatnonzero(sex == "F")[0]] = "unknown"
    with pytest.raises(DisclosureRefusedError):
        evaluate_subgroups(y, p, {"sex": moved}, ValidationSpec(), RULES, ledger=ledger, person_ids=ids)


def test_two_colluding_requesters_cannot_split_the_pair(store: CdmStore, site: Path) -> None:
    """Attack: two requesters under two grants (or one person with two accounts) each release one cohort of the
    differencing pair. Now: the site-wide scope (the default) compares across requesters and refuses the second;
    with scope "requester" the pair is answered (the documented limit of that setting)."""
    assert _feasibility(store, site, cohort(60), requester="mallory") is not None
    assert _feasibility(store, site, cohort(61), requester="trudy") is None
    lax = open_site_ledger(site, grant_id="g-2", requester="trudy", rules=RULES, scope="requester")
    assert feasibility(store, cohort(61), site="s", rules=RULES, ledger=lax).cohort_persons.value is not None


def test_suppression_boundary_cannot_be_walked(store: CdmStore, site: Path) -> None:
    """Attack: walk a cohort from 9 persons ("<10") to 10 (released) to learn that it is exactly 10 where it flips.
    Now: the suppressed cell is on record too, and a released set within nine persons of it is refused."""
    assert _feasibility(store, site, cohort(71)) == 0  # 9 persons: shown "<10", and on record
    assert _feasibility(store, site, cohort(70)) is None


def test_padding_the_target_into_many_cohorts_is_refused_each_time(store: CdmStore, site: Path) -> None:
    """Attack: average the noise away over *different* sets: pair many cohorts with and without the target person
    (ages 40+k..79 with and without the 40-year-old)... every pair differs by one person. Now: each second member
    of a pair is refused, so the attacker has no pair to subtract."""
    for hi in (60, 70):
        _feasibility(store, site, cohort(41, hi))
        assert _feasibility(store, site, cohort(40, hi)) is None  # with the target: one person apart


def test_refused_release_records_nothing(store: CdmStore, site: Path) -> None:
    """A refused release must not block later honest ones or count as released: after a refusal the ledger holds
    only the first release, and a cohort ten persons away is still answered."""
    assert _feasibility(store, site, cohort(40)) is not None
    assert _feasibility(store, site, cohort(45)) is None
    ledger = _ledger(site)
    assert ledger.releases() == 1
    # 20 persons fewer, 10 of each sex, whole age bands gone: no cell within nine persons of an answered one
    assert _feasibility(store, site, cohort(60)) is not None


def test_ledger_holds_no_person_id_and_its_secret_is_owner_only(store: CdmStore, site: Path) -> None:
    """The ledger never leaves the site, but even there it holds keyed hashes, not the CDM's person ids; the site
    secret is mode 0600 and a secret readable by others is refused."""
    _feasibility(store, site, cohort(40))
    ledger = _ledger(site)
    stored = ledger.hashes(np.arange(1, PERSONS + 1))
    assert not np.isin(np.arange(1, PERSONS + 1).astype(np.uint64), stored).any()
    secret = site / LEDGER_DIR / "site-secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    secret.chmod(0o644)
    with pytest.raises(InputError, match="owner only"):
        _ledger(site)


def test_same_release_twice_is_answered_the_same(store: CdmStore, site: Path) -> None:
    """An honest repeat (the same job again) is answered, with the same figures: a set released before adds
    nothing and is not judged again, even though the job's own cells differ from each other by a few persons."""
    ledger = _ledger(site)
    first = table_one(store, cohort(55), table_one_request(), site="s", rules=RULES, ledger=ledger)
    again = table_one(store, cohort(55), table_one_request(), site="s", rules=RULES, ledger=ledger)
    assert first == again
    assert age(1) == 40  # the CDM's ages, as the attacks above assume
