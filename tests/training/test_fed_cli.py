"""`dari train`'s new options refuse bad input before any site is asked (no simulation starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dari.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "forest"], "--model must be one of logistic, mlp, xgboost, got 'forest'"),
        (["--aggregation", "median"], "--aggregation must be one of mean, trimmed_mean, krum"),
        (["--leave-one-out", "--validate-at", "x"], "give only one of --validate-at or --leave-one-out"),
    ],
)
def test_fed_cli_train_refuses_bad_options(tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", "--sites", str(tmp_path / "site-1"), "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()  # nothing written
