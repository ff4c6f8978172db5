"""Live performance of the replayed stream, with outcomes linked from the site CDM, equals dari.validation's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from monitoring_site_helpers import STREAM, Replayed

from dari.cdm.store import open_store
from dari.models import extract_cohort_features
from dari.monitoring.check import run_monitoring
from dari.monitoring.outcomes import data_cutoff
from dari.monitoring.reference import load_deployment
from dari.validation import evaluate


def test_monitoring_replay_live_performance_equals_validation_on_same_rows(
    replayed: Replayed, deployment_dir: Path, stream_site: Path, patient_map: Path
) -> None:
    # Prepare: the true labels of the replayed patients at their index dates, straight from the cohort extraction
    deployment = load_deployment(deployment_dir)
    spec = deployment.spec
    store = open_store(stream_site)
    try:
        cohort = spec.cohort.model_copy(update={"index_start": None, "index_end": None})
        frame = extract_cohort_features(store, spec.model_copy(update={"cohort": cohort}))
        cutoff = data_cutoff(store)
    finally:
        store.close()
    assert cutoff is not None
    label = dict(zip(frame.person_id.tolist(), frame.y.tolist(), strict=True))
    # Execute
    run = run_monitoring(
        replayed.database, deployment, site=stream_site, patient_map=patient_map, calls_per_window=STREAM
    )
    # Assert: for each window, the calls whose horizon passed, scored from the cards the service returned
    assert run.linkage is not None and run.linkage.not_linked == 0 and run.linkage.horizon_open > 0
    for window, stream in zip(run.windows, (replayed.replay.unshifted, replayed.replay.shifted), strict=True):
        done = [r for r in stream if r.as_of + timedelta(days=365) <= cutoff]
        y = np.array([label[r.person_id] for r in done])
        p = np.array([r.body["cards"][0]["extension"]["dari-probability"] for r in done])
        expected = evaluate(y, p)
        perf = window.performance
        assert perf is not None and not perf.suppressed and perf.n == 5 * round(len(done) / 5 + 1e-9)
        assert perf.auroc == pytest.approx(expected.auroc.estimate, abs=1e-12)
        assert perf.auroc_ci == pytest.approx((expected.auroc.ci_low, expected.auroc.ci_high), abs=1e-12)
        assert perf.calibration_intercept == pytest.approx(expected.calibration.citl.estimate, abs=1e-12)
        assert perf.oe_ratio == pytest.approx(y.mean() / p.mean())
    unshifted, shifted = run.windows
    # the shifted population's scores rose but their outcomes did not: the model over-predicts there
    assert shifted.performance is not None and shifted.performance.oe_ratio is not None
    assert shifted.performance.oe_ratio < deployment.policy().oe_low
    assert "calibration" in {a.kind for a in shifted.alerts}
    # with ~170 outcomes the live AUROC's CI is ±0.09: a warning may fire by chance, a critical alert must not
    assert all(a.severity == "warning" and a.kind == "discrimination" for a in unshifted.alerts)
