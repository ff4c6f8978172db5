"""The `dari` command: help everywhere, machine output, exit codes scripts can rely on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dari.cli.app import app

runner = CliRunner()
COMMANDS = [
    [],
    ["synth"],
    ["demo"],
    ["site"],
    ["site", "etl"],
    ["cdm"],
    ["cdm", "check"],
    ["cdm", "summary"],
    ["cdm", "ddl"],
    ["cdm", "characterise"],
    ["cdm", "describe"],
    ["site", "ingest"],
    ["privacy"],
    ["privacy", "keygen"],
    ["privacy", "deid-text"],
    ["privacy", "deid-dicom"],
    ["privacy", "link-tokens"],
    ["econ"],
    ["econ", "run"],
    ["econ", "example"],
]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "net"
    result = runner.invoke(
        app,
        ["synth", "--sites", "2", "--patients-per-site", "300", "--seed", "3", "--out", str(out), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dari")
def test_help_every_command_exits_zero(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_version_prints_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("dari ")


def test_synth_json_reports_every_site(network: Path) -> None:
    assert (network / "site-1" / "extract" / "manifest.json").is_file()
    assert (network / "site-2" / "cdm.duckdb").is_file()
    assert (network / "site-1" / "truth" / "ckd_progression.csv").is_file()


def test_synth_json_is_machine_readable(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "--sites", "1", "--patients-per-site", "100", "--out", str(tmp_path), "--format", "json"]
    )
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["sites"][0]["extract_rows"]["patients"] == 100
    assert payload["sites"][0]["cdm_rows"]["person"] == 100


def test_cdm_summary_json_counts_persons(network: Path) -> None:
    result = runner.invoke(app, ["cdm", "summary", str(network / "site-1"), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"]["person"] == 300


def test_cdm_check_scores_synthetic_site(network: Path) -> None:
    result = runner.invoke(app, ["cdm", "check", str(network / "site-2"), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0, [r for r in report["results"] if r["status"] == "failed"]
    assert report["summary"]["passed"] > 50


def test_cdm_check_fail_under_exits_4(network: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(network / "site-1" / "cdm.duckdb", broken)
    import duckdb

    with duckdb.connect(str(broken)) as con:
        con.execute("UPDATE visit_occurrence SET visit_end_date = visit_start_date - 5")
    result = runner.invoke(app, ["cdm", "check", str(broken), "--fail-under", "100"])
    assert result.exit_code == 4
    assert "below --fail-under" in result.output


def test_cdm_check_missing_target_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cdm", "check", str(tmp_path / "nowhere.duckdb")])
    assert result.exit_code == 3
    assert "no CDM database" in result.output


def test_site_etl_bad_input_exits_2_naming_file(network: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(network / "site-1", site)
    (site / "extract" / "visits.csv").write_bytes(b"")
    result = runner.invoke(app, ["site", "etl", str(site)])
    assert result.exit_code == 2
    assert "visits.csv" in result.output
    assert "empty" in result.output


def test_cdm_ddl_postgresql_has_39_tables() -> None:
    result = runner.invoke(app, ["cdm", "ddl", "--dialect", "postgresql", "--schema", "cdm"])
    assert result.exit_code == 0
    assert result.stdout.count("CREATE TABLE") == 39
    assert '"cdm"."person"' in result.stdout


def test_demo_builds_pseudonymised_checked_network(tmp_path: Path) -> None:
    # Prepare / Execute: the README's main command, on a network just large enough for site-1 to be validated
    # (at least 10 events) and so deployed, served and watched
    # Seeded site keys (the demo keeps keys it finds): each person's secret date shift decides whether they fall in
    # the model's cohort, so with fresh random keys site-1's ~10 events at 600 patients were sometimes 9.
    from dari.models.reference import write_seeded_key

    for site in ("site-1", "site-2", "site-3"):
        write_seeded_key(tmp_path / "demo" / "keys" / f"{site}.key", 7, site)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--patients-per-site", "600"])
    # Assert
    assert result.exit_code == 0, result.output
    assert result.output.count("data quality: 100.0 %") == 3
    assert result.output.count("pseudonymised: k-anonymity") == 3
    for site in ("site-1", "site-2", "site-3"):
        assert (tmp_path / "demo" / site / "reports" / "pseudonymisation.html").is_file()
    key = tmp_path / "demo" / "keys" / "site-1.key"
    assert key.stat().st_mode & 0o077 == 0
    assert "validation report: " in result.output
    econ = json.loads((tmp_path / "demo" / "econ" / "results.json").read_text(encoding="utf-8"))
    validated = json.loads((tmp_path / "demo" / "validation" / "results.json").read_text(encoding="utf-8"))
    sens = validated["pooled"]["accuracy"]["sensitivity"]["estimate"]
    assert f"sensitivity {sens:.3f}" in result.output and "ICER " in result.output
    assert econ["comparison"]["intervention"] == "ai" and econ["psa"]["iterations"] > 0
    assert result.output.rfind("ICER ") > result.output.rfind("validation report: ")  # the demo ends with it
    assert validated["job_id"] in (tmp_path / "demo" / "dossier" / "dossier.en.html").read_text(encoding="utf-8")
    # Issue 18: a model trained at site-1 and site-2, validated at site-3 (or refused there: a small site-3)
    trained = json.loads((tmp_path / "demo" / "training" / "training.json").read_text(encoding="utf-8"))
    assert trained["trained_by"] and set(trained["trained_by"]) <= {"site-1", "site-2"}  # never site-3
    assert "external validation at site-3" in result.output or "site-3: not validated" in result.output
    assert (tmp_path / "demo" / "training" / "model_card.json").is_file()
    _assert_demo_bridge_to_care(tmp_path / "demo", result.output)


def _assert_demo_bridge_to_care(demo: Path, output: str) -> None:
    """The demo's last steps: site-1 deployed under its approved report, replayed, watched; the portal shows it."""
    import re

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from dari.hub.db.engine import make_engine, session_factory
    from dari.hub.db.models import AuditEntry
    from dari.hub.monitoring import site_timeline
    from dari.hub.settings import HubSettings
    from dari.hub.web.app import create_app

    manifest = json.loads((demo / "deployment" / "site-1" / "deployment.json").read_text(encoding="utf-8"))
    sha = manifest["model_sha256"]
    assert manifest["site"] == "site-1" and manifest["report_id"] and manifest["approver"] == "approver1"
    assert (demo / "deployment" / "site-1" / "monitoring-reference.json").is_file()
    url = f"/monitoring/{sha}/site-1"
    assert f"monitoring: http://127.0.0.1:8700{url}" in output
    engine = make_engine(demo / "hub.db")
    try:
        with session_factory(engine)() as s:
            deployed = s.execute(select(AuditEntry).where(AuditEntry.action == "deployment.deploy")).scalars().all()
            found = site_timeline(s, sha, "site-1")
    finally:
        engine.dispose()
    assert [e.outcome for e in deployed] == ["allow"]
    assert found.report_id == manifest["report_id"] and len(found.windows) == 2
    drift_kinds = {"input_drift", "score_drift"}
    first, last = found.windows
    score = next(d for d in first.drift if d.name == "score")
    assert score.psi is not None  # a verdict was given on the stable window, not withheld for too few calls
    assert not drift_kinds & {a.kind for a in first.alerts}
    assert drift_kinds <= {a.kind for a in last.alerts}
    assert "egfr" in {a.subject for a in last.alerts if a.kind == "input_drift"}
    # The portal's monitoring page shows the alert to site-1's steward.
    password = re.search(r"password for all: (\S+)", (demo / "hub-logins.txt").read_text(encoding="utf-8"))
    assert password
    client = TestClient(create_app(HubSettings(database=str(demo / "hub.db"))), base_url="https://testserver")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert csrf
    login = {"username": "steward1", "password": password[1], "csrf_token": csrf[1]}
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    page = client.get(url)
    assert page.status_code == 200
    kinds = re.findall(r'<tr class="alert-row" data-kind="(\w+)"', page.text)
    assert drift_kinds <= set(kinds) and len(kinds) == len(first.alerts) + len(last.alerts)


def test_cli_start_imports_no_sub_command() -> None:
    import subprocess
    import sys

    # Execute: a fresh interpreter imports the root command, as the console script and each CDS worker do
    code = "import sys, dari.cli.app; print(' '.join(m for m in sys.modules if m.startswith(('dari.', 'pandas'))))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    # Assert: no sub-command module and none of their heavy dependencies until a command runs
    assert [m for m in loaded if m.startswith("dari.cli.") and m != "dari.cli.app"] == []
    assert not any(m.startswith(("pandas", "dari.synth", "dari.hub")) for m in loaded)


def test_cli_every_listed_command_loads() -> None:
    from dari.cli.app import COMMANDS, SUMMARIES, load_command

    for name in COMMANDS:
        command = load_command(name)
        assert command.name == name and (command.help or "").strip(), name
        # `dari --help` lists SUMMARIES (no import): they must say what the command's own help says
        assert " ".join((command.help or "").split("\n\n")[0].split()) == SUMMARIES[name], name
