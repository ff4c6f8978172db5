"""Render the report in one language (numbers and figures once, HTML and PDF from the same record) and write it
atomically."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from dari.atomic import atomic_path
from dari.models.model_card import ModelCard
from dari.reports.figures import all_figures, to_svg
from dari.reports.fonts import hangul_font
from dari.reports.i18n import Lang, t
from dari.reports.numbers import ReportNumbers, compute
from dari.reports.render_html import render_html
from dari.reports.render_pdf import render_pdf
from dari.reports.results_file import ReportInputs
from dari.reports.validation_report import build_report


@dataclass(frozen=True)
class RenderedReport:
    """Both files of one language, in memory; `pdf_lang` is "en" when no Hangul font was found for a ko PDF."""

    lang: Lang
    html: str
    pdf: bytes
    pdf_lang: Lang


def render_report(
    inputs: ReportInputs,
    card: ModelCard | None,
    lang: Lang,
    *,
    generated_at: dt.datetime | None = None,
    numbers: ReportNumbers | None = None,
) -> RenderedReport:
    """HTML and PDF of the report in `lang` (nothing written); tables, text and figures from one `ReportNumbers`."""
    when = generated_at or dt.datetime.now(dt.UTC)
    nums = numbers or compute(inputs.run)
    report = build_report(inputs, card, lang, generated_at=when, numbers=nums)
    figs = all_figures(nums, lang)
    try:
        html = render_html(report, {k: to_svg(f) for k, f in figs.items()})
        pdf_lang: Lang = lang if lang == "en" or hangul_font() else "en"
        note = None
        if pdf_lang != lang:  # Korean glyphs would print as empty boxes: say so, in English
            report = build_report(inputs, card, "en", generated_at=when, numbers=nums)
            note = t("font_note", "en")
        pdf = render_pdf(report, figs, report.footer, t("page", report.lang), note)
    finally:
        for f in figs.values():
            plt.close(f)
    return RenderedReport(lang=lang, html=html, pdf=pdf, pdf_lang=pdf_lang)


def write_report(rendered: RenderedReport, out_dir: Path) -> list[Path]:
    """Write `validation_report.<lang>.html` and `.pdf` in `out_dir`, each atomically; the paths written."""
    written = []
    for suffix, data in (("html", rendered.html.encode("utf-8")), ("pdf", rendered.pdf)):
        target = out_dir / f"validation_report.{rendered.lang}.{suffix}"
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        written.append(target)
    return written
