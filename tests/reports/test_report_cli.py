"""`dari report` end to end: both files per language, the PDF, atomic output, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dari.cli.report import report
from dari.errors import InputError
from dari.reports import load_results, parse_results

app = typer.Typer()
app.command()(report)
runner = CliRunner()


@pytest.mark.slow
def test_report_cli_writes_html_and_pdf_for_both_languages(cli_report: tuple[Any, Path]) -> None:
    # Execute (once, shared with the page tests)
    res, rep = cli_report
    tmp_path = rep.parent
    # Assert
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert names == [f"validation_report.{lang}.{ext}" for lang in ("en", "ko") for ext in ("html", "pdf")]
    for lang in ("ko", "en"):
        pdf = (tmp_path / "rep" / f"validation_report.{lang}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF")
        assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") > 1
        assert str(tmp_path / "rep" / f"validation_report.{lang}.html") in res.stdout
    assert not [p for p in (tmp_path / "rep").iterdir() if p.name.startswith(".")]  # no temporary left
    # the Korean PDF is in Korean on a fresh install: NanumGothic (shipped as a dependency) embedded, no fallback note;
    # the English one embeds it too, for the Korean hospital name of the model card's training data (no boxes)
    ko = (tmp_path / "rep" / "validation_report.ko.pdf").read_bytes()
    assert b"NanumGothic" in ko
    assert b"NanumGothic" in (tmp_path / "rep" / "validation_report.en.pdf").read_bytes()
    # quiet: no matplotlib findfont or fontTools subsetting lines
    assert "findfont" not in res.output and "NOT subset" not in res.output


def test_report_cli_missing_file_names_it(tmp_path: Path) -> None:
    res = runner.invoke(app, ["--results", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "nope.json" in res.output
    assert not (tmp_path / "r").exists()


def test_report_cli_rejects_bad_lang(results_file: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["--results", str(results_file), "--out", str(tmp_path), "--lang", "fr"])
    assert res.exit_code == 2 and "--lang" in res.output


def test_report_load_rejects_non_json(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"results\.json.*row 1.*not JSON"):
        load_results(bad)


def test_report_load_requires_the_detail(tmp_path: Path, results_doc: dict[str, Any]) -> None:
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({k: v for k, v in results_doc.items() if k != "detail"}), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_results(bad)
    assert exc.value.file == str(bad) and exc.value.column == "detail"


def test_report_parse_names_the_wrong_field(results_doc: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(results_doc, allow_nan=True))
    doc["detail"]["sites"]["site-1"]["metrics"]["auroc"]["estimate"] = "high"
    with pytest.raises(InputError) as exc:
        parse_results(doc, source="r.json")
    assert exc.value.column == "detail.sites.site-1.metrics.auroc.estimate"
    assert "r.json" in str(exc.value)


def test_report_parse_rejects_a_list_and_foreign_subgroups(results_doc: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="JSON object"):
        parse_results([1, 2], source="r.json")
    doc = {**results_doc, "subgroups": {"site-9": []}}
    with pytest.raises(InputError, match="site-9"):
        parse_results(doc, source="r.json")


def test_report_refuses_a_card_of_another_model(results_file: Path, tmp_path: Path) -> None:
    from dari.models.model_card import dump_card, load_card
    from dari.models.reference import reference_model_paths

    card = load_card(reference_model_paths().card).model_copy(update={"model_sha256": "0" * 64})
    path = tmp_path / "card.json"
    path.write_text(dump_card(card), encoding="utf-8")
    res = runner.invoke(app, ["--results", str(results_file), "--model-card", str(path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "model_sha256" in res.output
