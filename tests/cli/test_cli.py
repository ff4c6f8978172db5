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
    # Prepare / Execute: the README's main command, on a small network
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--patients-per-site", "100"])
    # Assert
    assert result.exit_code == 0, result.output
    assert result.output.count("data quality: 100.0 %") == 3
    assert result.output.count("pseudonymised: k-anonymity") == 3
    for site in ("site-1", "site-2", "site-3"):
        assert (tmp_path / "demo" / site / "reports" / "pseudonymisation.html").is_file()
    key = tmp_path / "demo" / "keys" / "site-1.key"
    assert key.stat().st_mode & 0o077 == 0
