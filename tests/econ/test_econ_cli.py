"""`dari econ` sub-app through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dari.cli.econ import app

runner = CliRunner()


def test_cli_example_then_run_writes_report(tmp_path: Path) -> None:
    model = tmp_path / "ckd.toml"
    assert runner.invoke(app, ["example", str(model)]).exit_code == 0
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(model), "--out", str(out), "--psa", "200", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["comparison"]["icer"] > 0
    assert data["psa"]["iterations"] == 200
    assert len(data["budget_impact"]) == 5
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "할인율" in html and "예산 영향" in html
    # Korean money in 만원/억원, parameters in words, every input with its source
    assert "비용 (만원)" in html and "억원" in html and "AI 민감도" in html
    assert "<th>출처</th>" in html and "Assumption: AI software fee" in html and "ai_fee_10000" in html
    english = (out / "report.en.html").read_text(encoding="utf-8")
    assert "Discount rates" in english and "KRW million" in english and "Sensitivity of the AI tool" in english
    assert "할인율" not in english
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "report.en.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "figures" / "ceac.svg").exists()
    assert json.loads((out / "results.json").read_text())["schema"] == "dari-econ-results/1"


def test_cli_run_bad_model_exit_2_and_nothing_written(tmp_path: Path) -> None:
    model = tmp_path / "bad.toml"
    model.write_text('[model]\nname = "x"\n[strategies.s]\n[parameters]\np = { value = 2, kind = "probability" }\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(model), "--out", str(out), "--psa", "0"])
    assert res.exit_code == 2
    assert "parameters.p" in res.stderr and "bad.toml" in res.stderr
    assert not out.exists()


def test_cli_run_with_validation_changes_result(tmp_path: Path, validation_file: Path) -> None:
    model = tmp_path / "ckd.toml"
    runner.invoke(app, ["example", str(model)])
    args = ["run", str(model), "--psa", "0", "--format", "json", "--lang", "en", "--out"]
    plain = json.loads(runner.invoke(app, [*args, str(tmp_path / "a")]).stdout)
    res = runner.invoke(app, [*args, str(tmp_path / "b"), "--validation", str(validation_file), "--site", "site-2"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["strategies"]["ai"]["tree"]["TP"] != plain["strategies"]["ai"]["tree"]["TP"]
    assert (tmp_path / "b" / "report.en.html").is_file() and not (tmp_path / "b" / "report.html").exists()
    bad = runner.invoke(app, [*args, str(tmp_path / "c"), "--validation", str(validation_file), "--site", "site-9"])
    assert bad.exit_code == 2 and "refused" in bad.stderr and not (tmp_path / "c").exists()


def test_cli_example_refuses_overwrite(tmp_path: Path) -> None:
    model = tmp_path / "x.toml"
    model.write_text("keep")
    res = runner.invoke(app, ["example", str(model)])
    assert res.exit_code == 2 and model.read_text() == "keep"
