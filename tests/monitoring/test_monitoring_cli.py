"""`dari monitor reference | check | publish` through Typer's test runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from monitoring_site_helpers import STREAM, Replayed
from typer.testing import CliRunner

from dari.cli.monitor import ALERT_EXIT, app
from dari.monitoring.publication import MonitoringPublication
from dari.monitoring.reference import REFERENCE_FILE, load_reference

runner = CliRunner()


def test_monitoring_cli_reference_writes_the_file(reference_site: Path, deployment_dir: Path, tmp_path: Path) -> None:
    # Prepare: a copy of the deployment without its reference
    folder = tmp_path / "deployment"
    shutil.copytree(deployment_dir, folder)
    (folder / REFERENCE_FILE).unlink()
    # Execute
    result = runner.invoke(app, ["reference", str(reference_site), str(folder), "--sample-size", "100"])
    # Assert
    assert result.exit_code == 0, result.output
    reference = load_reference(folder / REFERENCE_FILE)
    assert reference.site_id == "site-1" and len(reference.score.sample) == 100


def test_monitoring_cli_check_exits_3_on_alert(
    replayed: Replayed, deployment_dir: Path, stream_site: Path, patient_map: Path, tmp_path: Path
) -> None:
    # Prepare
    args = ["check", str(replayed.database), str(deployment_dir), "--calls-per-window", str(STREAM)]
    args += ["--site", str(stream_site), "--patient-map", str(patient_map), "--lang", "en"]
    # Execute
    result = runner.invoke(app, [*args, "--json", str(tmp_path / "windows.json")])
    # Assert
    assert result.exit_code == ALERT_EXIT == 3, result.output
    assert "input_drift" in result.output and "score_drift" in result.output and "has shifted" in result.output
    doc = json.loads((tmp_path / "windows.json").read_text(encoding="utf-8"))
    assert len(doc["windows"]) == 2 and doc["windows"][1]["alerts"]


def test_monitoring_cli_check_exits_0_without_alert(replayed: Replayed, deployment_dir: Path, tmp_path: Path) -> None:
    # Prepare: a policy whose thresholds this replay does not reach
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"drift": {"psi": 50, "ks_d": 1.0}}), encoding="utf-8")
    # Execute
    result = runner.invoke(
        app,
        ["check", str(replayed.database), str(deployment_dir), "--calls-per-window", "400", "--policy", str(policy)],
    )
    # Assert
    assert result.exit_code == 0, result.output
    assert "400" in result.output


def test_monitoring_cli_publish_to_file_and_refuses_two_targets(
    replayed: Replayed, deployment_dir: Path, tmp_path: Path
) -> None:
    # Prepare
    base = ["publish", str(replayed.database), str(deployment_dir), "--calls-per-window", str(STREAM)]
    out = tmp_path / "publication.json"
    # Execute
    published = runner.invoke(app, [*base, "--out", str(out)])
    refused = runner.invoke(app, [*base, "--out", str(out), "--db", str(tmp_path / "hub.db")])
    bad_policy = runner.invoke(app, [*base, "--out", str(out), "--policy", str(tmp_path / "none.json")])
    # Assert
    assert published.exit_code == 0, published.output
    publication = MonitoringPublication.model_validate_json(out.read_bytes())
    assert len(publication.windows) == 2 and len(publication.inferences) == 2 * STREAM
    assert refused.exit_code == 2 and "exactly one of" in refused.output
    assert bad_policy.exit_code == 2 and "none.json" in bad_policy.output
