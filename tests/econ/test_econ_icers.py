"""`dari econ icers`: dampack's `calculate_icers` fixtures (HERC example), through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dari.cli.econ import app
from dari.econ.icers_file import incremental_table

runner = CliRunner()


def _csv(path: Path, rows: list[tuple[str, float, float]], header: str = "strategy,cost,effect") -> Path:
    path.write_text(header + "\n" + "\n".join(f"{s},{c},{e}" for s, c, e in rows) + "\n", encoding="utf-8")
    return path


def test_icers_cli_reproduces_dampack_herc_fixture(tmp_path: Path) -> None:
    # dampack tests/testthat/test_calculate_icers.R: HERC's example of six strategies
    f = _csv(tmp_path / "ce.csv", [("E", 55000, 5), ("D", 35000, 4), ("C", 25000, 3), ("B", 10000, 2),
                                   ("A", 12000, 1.5), ("UC", 5000, 1)])  # fmt: skip
    res = runner.invoke(app, ["icers", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert [r["strategy"] for r in rows] == ["UC", "B", "D", "E", "C", "A"]
    assert [r["icer"] for r in rows] == [None, 5000, 12500, 20000, None, None]
    assert [r["incremental_cost"] for r in rows] == [None, 5000, 25000, 20000, None, None]
    assert [r["incremental_effect"] for r in rows] == [None, 1, 2, 1, None, None]
    assert [r["status"] for r in rows][-2:] == ["extendedly dominated", "dominated"]
    table = runner.invoke(app, ["icers", str(f)])
    assert table.exit_code == 0 and "12,500.00" in table.stdout


def test_icers_equal_effect_cheaper_strategy_is_reference() -> None:
    # dampack "default reference strategy": Test & treat as effective as Treat all and cheaper than both
    rows = incremental_table(
        {"No Treat": 163771.0, "Treat all": 164848.7, "Test & treat": 163765.1},
        {"No Treat": 6.48273, "Treat all": 6.52861, "Test & treat": 6.52861},
    )
    assert rows[0].strategy == "Test & treat" and rows[0].status == "frontier"
    assert {r.strategy: r.status for r in rows[1:]} == {"No Treat": "dominated", "Treat all": "dominated"}
    assert [r.strategy for r in incremental_table({"s": 1.0}, {"s": 2.0})] == ["s"]


def test_icers_bad_number_names_row_and_column(tmp_path: Path) -> None:
    f = tmp_path / "ce.csv"
    f.write_text("전략,비용,QALY\nA,100,1\nB,lots,2\n", encoding="utf-8")
    res = runner.invoke(app, ["icers", str(f)])
    assert res.exit_code == 2
    assert "row 3" in res.stderr and "비용" in res.stderr and "lots" in res.stderr
    missing = _csv(tmp_path / "m.csv", [("A", 1, 1)], header="strategy,cost,benefit")
    res = runner.invoke(app, ["icers", str(missing)])
    assert res.exit_code == 2 and "effect or qaly" in res.stderr
