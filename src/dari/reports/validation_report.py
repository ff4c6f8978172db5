"""Assemble the validation report (`ValidationReport`) from a validation run and the model card."""

from __future__ import annotations

import datetime as dt

import dari
from dari.errors import InputError
from dari.models.model_card import ModelCard
from dari.reports import sections
from dari.reports.i18n import Lang, t
from dari.reports.numbers import ReportNumbers, compute
from dari.reports.report_model import Section, Table, ValidationReport
from dari.reports.results_file import ReportInputs
from dari.reports.tripod_ai import CHECKLIST


def missing_fields(inputs: ReportInputs, card: ModelCard | None) -> list[str]:
    """What a complete report needs that this results file (and card) does not hold."""
    out = []
    run = inputs.run
    if not inputs.subgroups:
        out.append("subgroups (per-site results by sex and age band)")
    out += [
        "started_at / finished_at timestamps of the run (only wall_seconds)",
        "validation spec (threshold, calibration bins, confidence) as such; read from the pooled threshold",
        "disclosure rules (rounding base); min_cell read from each site's statistics",
        "validation data period (dates of the index events) per site",
        "model name and version (only the SHA-256; taken from the model card)",
    ]
    if all(r.grant_id is None for r in run.sites.values()):
        out.append("grant ids (no site recorded one: run without governance)")
    if card is None:
        out.append("model card (pass --model-card)")
    return out


def tripod_table(present: set[str], titles: dict[str, str], lang: Lang) -> Table:
    """The TRIPOD+AI checklist with, for each item, the sections answering it or why it is not answered."""
    rows = []
    for item in CHECKLIST:
        where = [titles[s] for s in item.answered_in if s in present]
        reason = item.reason_ko if lang == "ko" else item.reason_en
        if item.status == "not_applicable":
            cell = f"{t('not_applicable', lang)}: {reason}"
        elif where:
            cell = "; ".join(where) + (f" ({reason})" if reason else "")
        else:
            cell = f"{t('not_reported', lang)}: {reason or t('missing', lang)}"
        section = item.section_ko if lang == "ko" else item.section_en
        rows.append((item.number, section, item.text_ko if lang == "ko" else item.text_en, cell))
    head = (t("item", lang), t("section", lang), t("recommendation", lang), t("where", lang))
    return Table(head=head, rows=tuple(rows))


def build_report(
    inputs: ReportInputs,
    card: ModelCard | None,
    lang: Lang,
    *,
    generated_at: dt.datetime | None = None,
    numbers: ReportNumbers | None = None,
) -> ValidationReport:
    """The report in `lang` from `numbers` (computed from the run when not given); a card for another model
    (SHA-256 differs) is refused."""
    run = inputs.run
    nums = numbers or compute(run)
    if card is not None and card.model_sha256 != run.model_sha256:
        raise InputError(
            f"the model card pins {card.model_sha256[:12]}…, the results {run.model_sha256[:12]}…",
            file=inputs.source,
            column="model_sha256",
        )
    when = (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    cell = nums.min_cell
    parts: list[Section] = [
        sections.summary(run, nums, card, lang),
        sections.provenance(inputs, nums, card, lang, when, cell),
        sections.model_card(card, lang),
        sections.methods(nums, lang),
        sections.sites(nums, lang),
        sections.meta_analysis(inputs, lang),
        sections.figures(run, lang),
        sections.subgroups(inputs, lang, cell),
        sections.limitations(inputs, lang),
    ]
    parts.append(Section(id="missing", title=t("missing", lang), bullets=tuple(missing_fields(inputs, card))))
    numbered = [s.model_copy(update={"title": f"{i}. {s.title}"}) for i, s in enumerate(parts, start=1)]
    titles = {s.id: s.title for s in numbered}
    tripod = Section(
        id="tripod",
        title=f"{len(numbered) + 1}. {t('tripod', lang)}",
        paragraphs=(
            "Collins GS et al. TRIPOD+AI. BMJ 2024;385:e078378."
            + (" 항목 문구는 요약·번역본입니다." if lang == "ko" else " Item wording paraphrased."),
        ),
        tables=(tripod_table(set(titles), titles, lang),),
    )
    name = f"{card.name} v{card.version}" if card else run.model_sha256[:12]
    return ValidationReport(
        lang=lang,
        title=f"{t('title', lang)}: {name}",
        subtitle=f"job {run.job_id} · {len(run.covered)}/{len(run.sites)} sites",
        generated_at=when,
        code_version=dari.__version__,
        sections=(*numbered, tripod),
        min_cell=cell,
        model=name,
        run_id=run.job_id,
    )
