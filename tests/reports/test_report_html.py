"""The validation report's content: every section, figures inline, TRIPOD+AI items, languages, suppression."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from dari.models.model_card import load_card
from dari.models.reference import reference_model_paths
from dari.reports import CHECKLIST, ValidationReport, build_report, load_results
from dari.reports.figures import all_figures, to_svg
from dari.reports.numbers import compute
from dari.reports.render_html import render_html

WHEN = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
SECTIONS = (
    "summary",
    "provenance",
    "model-card",
    "methods",
    "sites",
    "meta-analysis",
    "figures",
    "subgroups",
    "limitations",
    "missing",
    "tripod",
)
FIGURES = ("roc", "calibration", "decision", "forest_auroc", "forest_slope")


@pytest.fixture(scope="module")
def reports(results_file: Path) -> dict[str, tuple[ValidationReport, str]]:
    """The report record and its HTML in both languages (figures drawn once)."""
    inputs = load_results(results_file)
    card = load_card(reference_model_paths().card)
    figs = all_figures(compute(inputs.run), "en")
    svgs = {k: to_svg(f) for k, f in figs.items()}
    out = {}
    for lang in ("ko", "en"):
        rep = build_report(inputs, card, lang, generated_at=WHEN)  # type: ignore[arg-type]
        out[lang] = (rep, render_html(rep, svgs))
    return out


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_report_html_has_every_section(reports: dict[str, tuple[ValidationReport, str]], lang: str) -> None:
    # Execute
    _, html = reports[lang]
    # Assert
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html, sid
    for key in FIGURES:
        assert f'id="fig-{key}"><img' in html, key


def test_report_html_is_self_contained_with_svg_figures(reports: dict[str, tuple[ValidationReport, str]]) -> None:
    _, html = reports["en"]
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(i).lstrip().startswith(b"<?xml") for i in images)
    assert not re.search(r'(src|href)="(https?:|/|\.\./)', html)  # nothing fetched from elsewhere


def test_report_provenance_names_model_sites_and_reasons(
    reports: dict[str, tuple[ValidationReport, str]], results_doc: dict[str, Any]
) -> None:
    _, html = reports["en"]
    assert results_doc["model_sha256"] in html
    assert "ckd_progression_1y v1.0.0" in html
    assert "grant-0042" in html
    assert "no grant: expired" in html and "StoreError: cannot open cdm.duckdb" in html
    assert "dari 0." in html and "2026-11-24T09:00:00+00:00" in html


def test_report_site_table_has_every_covered_site_and_pooled_row(
    reports: dict[str, tuple[ValidationReport, str]], results_doc: dict[str, Any]
) -> None:
    rep, _ = reports["en"]
    table = rep.section("sites").tables[0]
    assert [r[0] for r in table.rows] == ["site-1", "site-2", "site-3", "Pooled (federated)"]
    site1 = results_doc["sites"]["site-1"]
    lo, hi = site1["auroc_ci"]
    assert table.rows[0][3] == f"{site1['auroc']:.3f} [{lo:.3f}–{hi:.3f}]"
    assert table.emphasis == (3,)


def test_report_meta_analysis_shows_estimate_pi_and_i2(
    reports: dict[str, tuple[ValidationReport, str]], results_doc: dict[str, Any]
) -> None:
    rep, _ = reports["en"]
    rows = {r[0].split(" ")[0]: r for r in rep.section("meta-analysis").tables[0].rows}
    auroc = results_doc["meta_analysis"]["auroc"]
    assert rows["AUROC"][2].startswith(f"{auroc['estimate']:.3f} [")
    assert rows["AUROC"][3] == f"{auroc['pi'][0]:.3f}–{auroc['pi'][1]:.3f}"
    assert rows["AUROC"][4] == f"{100 * auroc['i2']:.0f}%"


def test_report_tripod_table_lists_every_item(reports: dict[str, tuple[ValidationReport, str]]) -> None:
    for lang in ("ko", "en"):
        rep, _ = reports[lang]
        rows = rep.section("tripod").tables[0].rows
        assert [r[0] for r in rows] == [i.number for i in CHECKLIST]
        assert len(rows) == 52
        assert all(r[3] for r in rows)  # every item answered or explained
    rows = {r[0]: r[3] for r in reports["en"][0].section("tripod").tables[0].rows}
    assert "Random-effects meta-analysis" in rows["23b"]
    assert rows["18a"].startswith("Not reported here")
    assert rows["24"].startswith("Not applicable")


def test_report_languages_differ(reports: dict[str, tuple[ValidationReport, str]]) -> None:
    ko, en = reports["ko"][1], reports["en"][1]
    assert '<html lang="ko">' in ko and '<html lang="en">' in en
    assert "다기관 외부 검증 보고서" in ko and "다기관 외부 검증 보고서" not in en
    assert "Multicenter external validation report" in en and "Multicenter external validation report" not in ko
    hangul = re.compile(r"[\uac00-\ud7a3]")
    assert len(hangul.findall(ko)) > 5 * len(hangul.findall(en))


def _numeric(cell: str) -> bool:
    return bool(re.search(r"\d", cell))


def test_report_suppressed_cells_never_show_numbers(reports: dict[str, tuple[ValidationReport, str]]) -> None:
    rep, html = reports["en"]
    # site-3's 2×2 table was withheld by the site: its accuracy cells say so, with no number
    acc = {r[0]: r for r in rep.section("sites").tables[1].rows}
    assert all(c == "withheld (small cell) (<10)" for c in acc["site-3"][1:])
    # every subgroup level of site-3 is suppressed: not even n appears
    site3 = [tb for tb in rep.section("subgroups").tables if tb.caption in ("site-3 · sex", "site-3 · age_band")]
    assert len(site3) == 2
    cells = [c for tb in site3 for row in tb.rows for c in row[1:]]
    # "suppressed*", never "<10": a level is suppressed for its events (or to protect another level), and may
    # hold far more than 10 patients, so "<10" would print a false count
    assert cells and all(c == "suppressed*" for c in cells)
    assert not any(_numeric(c) for c in cells)
    notes = " ".join(rep.section("subgroups").paragraphs)
    assert "* Suppressed: a level with fewer than 10 events or non-events" in notes
    assert "&lt;10 (suppressed)" not in html


def test_report_missing_fields_are_listed(reports: dict[str, tuple[ValidationReport, str]]) -> None:
    rep, _ = reports["en"]
    bullets = " ".join(rep.section("missing").bullets)
    assert "timestamps" in bullets and "validation data period" in bullets
    assert "subgroups (per-site" not in bullets  # the fixture's results carry subgroups


def test_report_subgroups_across_sites_pool_only_released_levels(
    reports: dict[str, tuple[ValidationReport, str]],
) -> None:
    rep, html = reports["en"]
    pooled = [tb for tb in rep.section("subgroups").tables if tb.caption.startswith("Across sites (random effects)")]
    # Assert: one table per variable; site-3 suppressed every level, so no row pools it
    assert {tb.caption.split(" · ")[1] for tb in pooled} == {"sex", "age_band"}
    rows = [row for tb in pooled for row in tb.rows]
    assert rows and all("site-3" not in row[-1] for row in rows)
    assert all(row[-1].startswith("site-1") for row in rows if row[1] == "2")
    assert "Across sites (random effects) · sex" in html
    ko_rep, _ = reports["ko"]
    assert any(tb.caption.startswith("기관 통합") for tb in ko_rep.section("subgroups").tables)
