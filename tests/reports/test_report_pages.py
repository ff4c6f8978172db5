"""The report as a regulator reads it: every figure's numbers equal the tables', methods name the parameters used,
and every PDF page is A4 with a footer, no text outside the page, no overlapping words, no missing glyph."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from report_pages import check_pages, need_poppler

from dari.models.model_card import load_card
from dari.models.reference import reference_model_paths
from dari.reports import build_report, load_results
from dari.reports.figures import all_figures
from dari.reports.numbers import compute


def _first_number(cell: str) -> str:
    m = re.match(r"([-\d.]+)", cell)
    assert m, cell
    return m.group(1)


def test_report_figures_show_the_tables_numbers(results_file: Path) -> None:
    # Prepare: one ReportNumbers, the report and the figures from it
    inputs = load_results(results_file)
    nums = compute(inputs.run)
    rep = build_report(inputs, load_card(reference_model_paths().card), "en", numbers=nums)
    figs = all_figures(nums, "en")
    table = {r[0]: r for r in rep.section("sites").tables[0].rows}
    # Execute: read each figure's artists back
    lines = {ln.get_gid(): ln for f in figs.values() for ax in f.axes for ln in ax.get_lines() if ln.get_gid()}
    # Assert: legends carry the tables' AUROC and ECE, forest plots the tables' estimates
    for site in nums.sites:
        auroc, ece, slope = table[site][3], table[site][7], table[site][6]
        assert lines[f"roc:{site}"].get_label() == f"{site} (AUROC {_first_number(auroc)})"
        assert lines[f"cal:{site}"].get_label() == f"{site} (ECE {ece})"
        assert f"{lines[f'auroc:{site}'].get_xdata()[0]:.3f}" == _first_number(auroc)
        assert f"{lines[f'slope:{site}'].get_xdata()[0]:.3f}" == _first_number(slope)
    pooled = table["Pooled (federated)"]
    assert lines["cal:pooled"].get_label().endswith(f"(ECE {pooled[7]})")
    # the methods state the bins the pooled curve has, and that is how many points are drawn
    bins = len(lines["cal:pooled"].get_xdata())
    methods = " ".join(rep.section("methods").paragraphs)
    assert f"use the {bins} bins left after" in methods
    assert f"At threshold {nums.threshold:g}" in methods and "at least 10" in methods
    assert "Hanley–McNeil CI" in methods
    # the cohort (released rounded) is shown as approximate beside the exact n analysed
    prov = {r[0]: r for r in rep.section("provenance").tables[1].rows}
    assert prov["site-1"][4].startswith("≈") and prov["site-1"][6] == table["site-1"][1]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_report_pdf_pages_fit_a4_with_footer(cli_report: tuple[Any, Path], lang: str, tmp_path: Path) -> None:
    need_poppler()
    assert cli_report[0].exit_code == 0, cli_report[0].output
    pdf = cli_report[1] / f"validation_report.{lang}.pdf"
    ws = check_pages(pdf, tmp_path)
    pages = max(w.page for w in ws)
    text = " ".join(w.text for w in ws)
    word = "쪽" if lang == "ko" else "page"
    for i in range(1, pages + 1):  # every page says which it is, of how many, and which run
        assert f"{word} {i} / {pages}" in text
    assert text.count("job-test0001") >= pages and text.count("ckd_progression_1y v1.0.0") >= pages
    # the Korean hospital name of the card prints in Hangul in the English report too
    assert "서울한빛대학교병원" in text


@pytest.mark.slow
def test_report_html_embeds_the_hangul_font(cli_report: tuple[Any, Path]) -> None:
    for lang in ("ko", "en"):
        html = (cli_report[1] / f"validation_report.{lang}.html").read_text("utf-8")
        face = r"@font-face\{font-family:DariHangul;font-weight:400;src:url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)"
        m = re.search(face, html)
        assert m, lang
        assert 10_000 < len(m.group(1)) < 1_500_000  # a subset, not the 4.5 MB face
        assert "font-family:DariHangul" in html


def test_report_wide_table_goes_landscape_and_fits(tmp_path: Path) -> None:
    # Prepare: a table whose words cannot fit the portrait width, then a paragraph
    from dari.reports.render_pdf import Document, render_document
    from dari.reports.report_model import Section, Table

    need_poppler()
    head = tuple(f"세부지표_{i}_calibration_in_the_large" for i in range(9))
    rows = tuple(tuple(f"0.{i}{j}3 [0.{i}01–0.{j}99]" for i in range(9)) for j in range(40))
    doc = Document(
        lang="en",
        title="Wide",
        subtitle="test",
        sections=(Section(id="w", title="1. Wide", tables=(Table(head=head, rows=rows),), paragraphs=("after",)),),
        footer="model v1 · run job-1",
    )
    pdf = tmp_path / "wide.pdf"
    # Execute
    pdf.write_bytes(render_document(doc))
    # Assert: portrait title page, landscape table pages (header repeated), back to portrait, all inside the page
    from report_pages import page_sizes

    sizes = page_sizes(pdf)
    assert sizes[0] == (595, 842) and (842, 595) in sizes
    ws = check_pages(pdf, tmp_path)
    landscape = [i + 1 for i, s in enumerate(sizes) if s == (842, 595)]
    assert len(landscape) >= 2  # 40 rows split: the header again on the next page
    assert all(any(w.page == p and w.text.startswith("세부지표_0") for w in ws) for p in landscape)
    assert [w.text for w in ws if w.text.startswith("page")] == ["page"] * len(sizes)
