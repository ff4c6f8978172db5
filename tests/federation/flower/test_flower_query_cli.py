"""`dari table-one` end to end through Flower's simulation engine (one Ray run, hence `slow`)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dari.cli.query import characterise_cohort

EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))

pytestmark = pytest.mark.slow


def test_flower_query_cli_table_one_pools_and_prints(flower_sites: list[Path], tmp_path: Path) -> None:
    # Prepare
    app = typer.Typer()
    app.command("table-one")(characterise_cohort)
    out = tmp_path / "t1.json"
    args = [
        "--definition",
        str(EXAMPLES / "ckd_g3.json"),
        "--request",
        str(EXAMPLES / "table_one_cardiometabolic.json"),
    ]
    # Execute
    result = CliRunner().invoke(
        app, [*args, "--sites", str(flower_sites[0]), "--sites", str(flower_sites[1]), "--json", str(out)]
    )
    # Assert
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "characterisation" and doc["covered"] == ["site-1", "site-2"]
    assert doc["pooled"]["sites"] == ["site-1", "site-2"]
    site_n = [doc["detail"]["sites"][s]["table_one"]["n"]["value"] for s in ("site-1", "site-2")]
    assert doc["pooled"]["n"]["value"] == sum(site_n)
    # Rich may wrap the table title at the console's width; the covered sites are checked in the JSON above.
    assert "pooled over" in result.output and "persons" in result.output
    assert "<10" in result.output  # default rules: small cells shown suppressed
    assert "person_id" not in out.read_text(encoding="utf-8")
