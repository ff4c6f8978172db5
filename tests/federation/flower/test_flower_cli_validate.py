"""`dari validate` argument checks that refuse before any job starts (the engine itself: test_flower_simulation)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from dari.cli.validate import validate

app = typer.Typer()
app.command()(validate)


def test_flower_cli_no_governance_refused_on_real_data(tmp_path: Path) -> None:
    site = tmp_path / "site-1"
    site.mkdir()
    result = CliRunner().invoke(app, ["--model", "reference", "--sites", str(site), "--no-governance"])
    assert result.exit_code == 2
    assert "synthetic" in result.output


def test_flower_cli_needs_at_most_one_governance_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--sites", str(tmp_path), "--no-governance", "--hub-db", str(tmp_path / "h")])
    assert result.exit_code == 2 and "only one" in result.output


def test_flower_cli_without_hub_option_refused_on_real_data(tmp_path: Path) -> None:
    site = tmp_path / "site-1"
    site.mkdir()
    result = CliRunner().invoke(app, ["--model", "reference", "--sites", str(site)])
    assert result.exit_code == 2 and "synthetic" in result.output


def test_flower_cli_own_model_needs_spec(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--model", str(tmp_path / "m.onnx"), "--sites", str(tmp_path), "--no-governance"])
    assert result.exit_code == 2 and "--spec" in result.output
