"""Drift on a stream replayed through the CDS service: quiet on an unshifted stream, alerts on a shifted one."""

from __future__ import annotations

from pathlib import Path

from monitoring_site_helpers import STREAM, Replayed

from dari.monitoring.calls import read_calls
from dari.monitoring.publication import MonitoringPolicy
from dari.monitoring.reference import REFERENCE_FILE, load_deployment, load_reference
from dari.monitoring.windows import monitor


def test_monitoring_drift_alert_fires_on_shifted_stream_and_not_on_unshifted(
    replayed: Replayed, deployment_dir: Path
) -> None:
    # Prepare
    deployment = load_deployment(deployment_dir)
    reference = load_reference(deployment_dir / REFERENCE_FILE)
    calls = read_calls(replayed.database, model_sha256=deployment.model_sha256)
    # Execute: one window per replayed population
    unshifted, shifted = monitor(
        calls, spec=deployment.spec, reference=reference, policy=MonitoringPolicy(), calls_per_window=STREAM
    )
    # Assert
    assert unshifted.activity.calls == shifted.activity.calls == STREAM
    assert unshifted.activity.scored == shifted.activity.scored == STREAM
    assert unshifted.alerts == []
    assert all(not d.drifted and d.psi is not None for d in unshifted.drift)
    fired = {(a.kind, a.subject) for a in shifted.alerts}
    assert {("input_drift", "age_years"), ("input_drift", "egfr"), ("score_drift", "score")} <= fired
    assert not {s for k, s in fired if k == "input_drift"} - {"age_years", "egfr"}  # the shift moved only these
