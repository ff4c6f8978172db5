"""Outcomes linked at the site: the spec's outcome rule from the CDM by keyed patient hash, or given in a CSV."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dari.cdm.store import open_store
from dari.errors import InputError
from dari.models import extract_cohort_features, load_spec
from dari.models.reference import reference_model_paths
from dari.monitoring.calls import LoggedCall
from dari.monitoring.outcomes import (
    data_cutoff,
    explicit_outcomes,
    link_cdm_outcomes,
    read_outcome_csv,
    read_patient_map,
)

KEY = b"k" * 32


def _hash(pid: str) -> str:
    return hmac.new(KEY, pid.encode(), hashlib.sha256).hexdigest()


def _call(i: int, patient: str | None, day: date | None, *, scored: bool = True) -> LoggedCall:
    return LoggedCall(
        id=i,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        service_id="svc",
        hook_instance=f"hook-{i}",
        model_sha256="a" * 64,
        status=200,
        reason="card",
        probability=0.3 if scored else None,
        indicator="warning" if scored else None,
        card_uuid=None,
        latency_ms=3.0,
        feedback=None,
        patient_hmac=_hash(patient) if patient is not None else None,
        evaluation_date=day,
        inputs=None,
    )


def test_monitoring_cdm_outcomes_equal_the_cohort_labels(reference_site: Path) -> None:
    # Prepare: each cohort member scored at their index date, as the CDS path would be
    spec = load_spec(reference_model_paths().spec)
    store = open_store(reference_site)
    try:
        frame = extract_cohort_features(store, spec)
        days = frame.index_date.astype(object)
        calls = [_call(i, str(pid), d) for i, (pid, d) in enumerate(zip(frame.person_id, days, strict=True))]
        # Execute
        linkage = link_cdm_outcomes(calls, store, spec, _hash)
        cutoff = data_cutoff(store)
    finally:
        store.close()
    # Assert: every horizon has passed (index dates end 2024-12-31, data 2025-12-31); the labels match exactly
    assert cutoff is not None and max(days) + timedelta(days=365) <= cutoff
    assert (linkage.not_linked, linkage.horizon_open, linkage.censored) == (0, 0, 0)
    linked = np.array([linkage.outcomes[c.id] for c in calls])
    assert np.array_equal(linked, frame.y) and 0 < linked.sum() < linked.size


def test_monitoring_cdm_outcomes_wait_for_the_horizon_and_need_the_patient(reference_site: Path) -> None:
    # Prepare: one cohort member evaluated at their index date, a patient the CDM lacks, an unscored call
    spec = load_spec(reference_model_paths().spec)
    store = open_store(reference_site)
    try:
        frame = extract_cohort_features(store, spec)
        pid, day = str(frame.person_id[0]), frame.index_date[0].astype(object)
        calls = [_call(1, pid, day), _call(2, "no-such-patient", day), _call(3, pid, day, scored=False)]
        # Execute
        early = link_cdm_outcomes(calls, store, spec, _hash, as_of=day + timedelta(days=364))
        late = link_cdm_outcomes(calls, store, spec, _hash, as_of=day + timedelta(days=365))
        renamed = link_cdm_outcomes(
            [_call(4, f"ehr-{pid}", day)], store, spec, _hash, fhir_ids={int(pid): f"ehr-{pid}"}
        )
    finally:
        store.close()
    # Assert
    assert early.outcomes == {} and early.horizon_open == 1 and early.not_linked == 1
    assert late.outcomes == {1: bool(frame.y[0])} and late.horizon_open == 0
    assert renamed.outcomes == {4: bool(frame.y[0])}


def test_monitoring_explicit_outcomes_from_csv(tmp_path: Path) -> None:
    # Prepare
    good = tmp_path / "outcomes.csv"
    good.write_text("hook_instance,outcome\nhook-1,1\nhook-2,false\nhook-9,yes\n", encoding="utf-8")
    calls = [_call(1, None, None), _call(2, None, None), _call(3, None, None, scored=False)]
    # Execute
    given = read_outcome_csv(good)
    # Assert
    assert given == {"hook-1": True, "hook-2": False, "hook-9": True}
    assert explicit_outcomes(calls, given) == {1: True, 2: False}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("hook,outcome\nh,1\n", "header lacks hook_instance"),
        ("hook_instance,outcome\nh,maybe\n", "row 2, column 'outcome': outcome must be"),
        ("hook_instance,outcome\nh,1\nh,0\n", "row 3, column 'hook_instance': hook_instance h appears twice"),
        ("hook_instance,outcome\n,1\n", "hook_instance is empty"),
    ],
)
def test_monitoring_outcome_csv_errors_name_row_and_column(tmp_path: Path, text: str, match: str) -> None:
    # Prepare
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError, match=match):
        read_outcome_csv(path)


def test_monitoring_patient_map_reads_and_refuses_bad_rows(tmp_path: Path) -> None:
    # Prepare
    good, bad = tmp_path / "map.csv", tmp_path / "bad.csv"
    good.write_text("person_id,fhir_patient_id\n12,ehr-a\n13,ehr-b\n", encoding="utf-8")
    bad.write_text("person_id,fhir_patient_id\nx12,ehr-a\n", encoding="utf-8")
    # Execute / Assert
    assert read_patient_map(good) == {12: "ehr-a", 13: "ehr-b"}
    with pytest.raises(InputError, match="row 2, column 'person_id'"):
        read_patient_map(bad)
