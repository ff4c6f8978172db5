"""The report's result tables: per site with the pooled row, accuracy at the threshold, meta-analysis, subgroups."""

from __future__ import annotations

from collections.abc import Mapping

from dari.reports.formatting import DASH, count, estimate, interval, num, proportion, suppressed_cell
from dari.reports.i18n import Lang, t
from dari.reports.numbers import ReportNumbers
from dari.reports.report_model import Table
from dari.validation import MetaAnalysis, SubgroupMeta, SubgroupVariable, ValidationMetrics


def site_table(nums: ReportNumbers, lang: Lang) -> Table:
    """n, events, AUROC, AUPRC, calibration and Brier for each covered site, then the pooled row."""
    head = tuple(t(k, lang) for k in ("site", "n", "events", "auroc", "auprc", "citl", "slope", "ece", "brier"))
    rows = [
        (
            s,
            count(sn.n),
            count(sn.events),
            estimate(sn.auroc),
            num(sn.auprc),
            estimate(sn.citl),
            estimate(sn.slope),
            num(sn.ece),
            num(sn.brier, 4),
        )
        for s, sn in nums.sites.items()
    ]
    emphasis: tuple[int, ...] = ()
    if nums.pooled is not None:
        p = nums.pooled
        rows.append(
            (
                t("pooled", lang),
                count(p.n),
                count(p.events),
                estimate(p.auroc),
                DASH,
                estimate(p.citl),
                estimate(p.slope),
                num(p.ece),
                num(p.brier, 4),
            )
        )
        emphasis = (len(rows) - 1,)
    bins = nums.pooled.calibration_bins if nums.pooled else 0
    note = {
        "ko": "통합 AUROC의 CI는 Hanley–McNeil(기관별은 DeLong); AUPRC는 통합 계산 불가. "
        f"기관별 ECE는 기관이 자체 행으로 계산한 값, 통합 ECE는 통합 히스토그램의 {bins}개 구간에서 계산한 값.",
        "en": "Pooled AUROC CI by Hanley–McNeil (per site: DeLong); AUPRC cannot be pooled from the statistics. "
        f"A site's ECE is computed by the site over its rows; the pooled ECE over the {bins} bins of the pooled "
        "histogram.",
    }[lang]
    return Table(head=head, rows=tuple(rows), caption=note, emphasis=emphasis)


def threshold_table(nums: ReportNumbers, lang: Lang, min_cell: int) -> Table:
    """Sensitivity, specificity, PPV and NPV (Wilson CIs) at the declared threshold, per site and pooled."""
    keys = ("sensitivity", "specificity", "ppv", "npv")
    head = (t("site", lang), *(t(k, lang) for k in keys))
    rows = []
    for s, sn in nums.sites.items():
        th = sn.threshold
        rows.append((s, *(proportion(None if th is None else getattr(th, k), lang, min_cell) for k in keys)))
    emphasis: tuple[int, ...] = ()
    if nums.pooled is not None:
        th = nums.pooled.threshold
        rows.append((t("pooled", lang), *(proportion(getattr(th, k), lang, min_cell) for k in keys)))
        emphasis = (len(rows) - 1,)
    return Table(head=head, rows=tuple(rows), emphasis=emphasis)


META_NAMES = {
    "auroc": ("AUROC (로짓 척도에서 통합)", "AUROC (pooled on the logit scale)"),
    "calibration_slope": ("보정 기울기", "Calibration slope"),
    "calibration_in_the_large": ("보정 절편(CITL)", "Calibration-in-the-large"),
    "calibration_intercept": ("보정 절편(CITL)", "Calibration-in-the-large"),
}


def meta_table(meta: Mapping[str, MetaAnalysis], lang: Lang) -> Table:
    """DerSimonian–Laird summaries: k, estimate [CI], prediction interval, I², τ², Q p-value, sites left out."""
    head = (t("metric", lang), t("k", lang), t("estimate", lang), t("pi", lang), "I²", "τ²", "Q p", t("excluded", lang))
    rows = []
    for key, m in meta.items():
        name = META_NAMES.get(key, (key, key))[0 if lang == "ko" else 1]
        pi = DASH if m.k < 3 else f"{num(m.pi_low)}–{num(m.pi_high)}"
        i2 = DASH if m.k < 2 else f"{100 * m.i2:.0f}%"
        rows.append(
            (
                name,
                str(m.k),
                interval(m.estimate, m.ci_low, m.ci_high),
                pi,
                i2,
                num(m.tau2, 4),
                num(m.q_pvalue),
                ", ".join(m.excluded) or DASH,
            )
        )
    return Table(head=head, rows=tuple(rows))


def _level_cells(m: ValidationMetrics | None, lang: Lang, min_cell: int) -> tuple[str, ...]:
    if m is None:  # nothing released, not even n: every cell says so (the note says why; the size may be large)
        cell = suppressed_cell(lang)
        return (cell,) * 7
    th = m.threshold
    return (
        count(m.n),
        count(m.events),
        estimate(m.auroc),
        estimate(m.calibration.slope),
        num(m.calibration.brier.brier, 4),
        proportion(None if th is None else th.sensitivity, lang, min_cell),
        proportion(None if th is None else th.specificity, lang, min_cell),
    )


def subgroup_tables(site: str, variables: tuple[SubgroupVariable, ...], lang: Lang, min_cell: int) -> list[Table]:
    """One table of levels and one of fairness gaps for each grouping variable of a site."""
    head = (
        t("level", lang),
        t("n", lang),
        t("events", lang),
        t("auroc", lang),
        t("slope", lang),
        t("brier", lang),
        t("sensitivity", lang),
        t("specificity", lang),
    )
    out = []
    for v in variables:
        rows = tuple((lv.level, *_level_cells(lv.metrics, lang, min_cell)) for lv in v.levels)
        out.append(Table(head=head, rows=rows, caption=f"{site} · {v.variable}"))
        gap_rows = tuple((g.metric, num(g.gap), g.highest or DASH, g.lowest or DASH, str(g.levels)) for g in v.gaps)
        gap_head = (t("metric", lang), t("gap", lang), t("highest", lang), t("lowest", lang), t("level", lang))
        out.append(Table(head=gap_head, rows=gap_rows, caption=f"{site} · {v.variable} · {t('gap', lang)}"))
    return out


def subgroup_meta_tables(metas: tuple[SubgroupMeta, ...], lang: Lang) -> list[Table]:
    """Per grouping variable: each level's AUROC and calibration slope pooled across sites (random effects)."""
    ko = lang == "ko"
    head = (
        t("level", lang),
        t("k", lang),
        t("auroc", lang),
        "AUROC " + t("pi", lang),
        "AUROC I²",
        t("slope", lang),
        ("기울기" if ko else "Slope") + " I²",
        "기관" if ko else "Sites",
    )
    by_variable: dict[str, list[SubgroupMeta]] = {}
    for m in metas:
        by_variable.setdefault(m.variable, []).append(m)
    out = []
    for variable, levels in by_variable.items():
        rows = tuple(
            (
                g.level,
                str(g.auroc.k),
                interval(g.auroc.estimate, g.auroc.ci_low, g.auroc.ci_high),
                DASH if g.auroc.k < 3 else f"{num(g.auroc.pi_low)}–{num(g.auroc.pi_high)}",
                DASH if g.auroc.k < 2 else f"{100 * g.auroc.i2:.0f}%",
                interval(g.calibration_slope.estimate, g.calibration_slope.ci_low, g.calibration_slope.ci_high),
                DASH if g.calibration_slope.k < 2 else f"{100 * g.calibration_slope.i2:.0f}%",
                ", ".join(g.auroc.sites) or DASH,
            )
            for g in levels
        )
        caption = f"{'기관 통합(무작위효과)' if ko else 'Across sites (random effects)'} · {variable}"
        out.append(Table(head=head, rows=rows, caption=caption))
    return out
