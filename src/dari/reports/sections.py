"""The report's sections, each built from the run (and the card) in one language."""

from __future__ import annotations

import math

import dari
from dari.federation.flower.jobs import ValidationRun
from dari.models.model_card import ModelCard, Text
from dari.reports import tables
from dari.reports.formatting import DASH, count, estimate, interval, num, percent
from dari.reports.i18n import Lang, t
from dari.reports.report_model import FigureRef, Section, Table
from dari.reports.results_file import ReportInputs


def _l(lang: Lang, ko: str, en: str) -> str:
    return ko if lang == "ko" else en


def _x(text: Text, lang: Lang) -> str:
    return text.ko if lang == "ko" else text.en


def _kv(rows: list[tuple[str, str]], lang: Lang) -> Table:
    return Table(head=(t("field", lang), t("value", lang)), rows=tuple(rows))


def summary(run: ValidationRun, card: ModelCard | None, lang: Lang) -> Section:
    """Objective and headline results."""
    model = f"{card.name} v{card.version}" if card else f"sha256 {run.model_sha256[:12]}…"
    paras = [
        _l(
            lang,
            f"목적: 예측모델 {model}의 성능을 {len(run.sites)}개 기관에서 연합 방식"
            f"(원자료는 기관 밖으로 나가지 않음)으로 "
            f"외부 검증한다. {len(run.covered)}개 기관이 결과를 제공했다"
            f"(거부 {len(run.refused)}, 실패 {len(run.failed)}).",
            f"Objective: external validation of the prediction model {model} at {len(run.sites)} sites, federated "
            f"(no row leaves a site). {len(run.covered)} sites contributed results ({len(run.refused)} refused, "
            f"{len(run.failed)} failed).",
        )
    ]
    if card is not None:
        paras.append(_x(card.summary, lang))
    p, meta = run.pooled, run.meta_analysis.get("auroc")
    if p is not None:
        paras.append(
            _l(
                lang,
                f"통합 결과: n = {p.n:,}, 사건 {p.events:,}; AUROC {estimate(p.auroc)}; 보정 기울기 "
                f"{estimate(p.calibration_slope)}; 보정 절편 {estimate(p.citl)}; Brier {num(p.brier.brier, 4)}; "
                f"임계값 {p.threshold.counts.threshold:g}에서 민감도 {num(p.threshold.sensitivity.estimate)}, "
                f"특이도 {num(p.threshold.specificity.estimate)}.",
                f"Pooled: n = {p.n:,}, {p.events:,} events; AUROC {estimate(p.auroc)}; calibration slope "
                f"{estimate(p.calibration_slope)}; calibration-in-the-large {estimate(p.citl)}; Brier "
                f"{num(p.brier.brier, 4)}; at threshold {p.threshold.counts.threshold:g} sensitivity "
                f"{num(p.threshold.sensitivity.estimate)}, specificity {num(p.threshold.specificity.estimate)}.",
            )
        )
    if meta is not None and meta.k:
        pi = f"{num(meta.pi_low)}–{num(meta.pi_high)}" if meta.k >= 3 else DASH
        paras.append(
            _l(
                lang,
                f"무작위효과 메타분석 AUROC {interval(meta.estimate, meta.ci_low, meta.ci_high)}, 95% 예측구간 {pi}, "
                f"I² {percent(meta.i2)} (k = {meta.k}).",
                f"Random-effects AUROC {interval(meta.estimate, meta.ci_low, meta.ci_high)}, 95% prediction interval "
                f"{pi}, I² {percent(meta.i2)} (k = {meta.k}).",
            )
        )
    return Section(id="summary", title=t("summary", lang), paragraphs=tuple(paras))


def provenance(inputs: ReportInputs, card: ModelCard | None, lang: Lang, when: str, min_cell: int) -> Section:
    """Model identity, job, code version, time, disclosure rules, and every site's status with reasons."""
    run = inputs.run
    grants = sorted({r.grant_id for r in run.sites.values() if r.grant_id})
    rows = [
        (_l(lang, "모델", "Model"), f"{card.name} v{card.version}" if card else DASH),
        ("SHA-256", run.model_sha256),
        (_l(lang, "작업 ID", "Job id"), run.job_id),
        (_l(lang, "요청자", "Requester"), run.requester),
        (_l(lang, "실행 엔진", "Engine"), f"Flower {run.engine}"),
        (t("grant", lang), ", ".join(grants) or _l(lang, "없음(거버넌스 없이 합성 데이터)", "none (synthetic data)")),
        (_l(lang, "실행 시간", "Run wall time"), f"{run.wall_seconds:.1f} s"),
        (_l(lang, "결과 파일", "Results file"), inputs.source),
        (_l(lang, "코드 버전", "Code version"), f"dari {dari.__version__} (Apache-2.0)"),
        (t("generated", lang), when),
        (
            _l(lang, "공개 통제 규칙", "Disclosure rules"),
            _l(
                lang,
                f"최소 칸 크기 {min_cell}: 그보다 작은 칸은 '<{min_cell}'로만 표시, 개수는 반올림, 곡선은 보호된 "
                "히스토그램에서만 도출",
                f"minimum cell {min_cell}: smaller cells shown only as '<{min_cell}', counts rounded, curves derived "
                "from protected histograms only",
            ),
        ),
        (
            _l(lang, "자료 공유", "Data availability"),
            _l(lang, "원자료는 각 기관에 남음; 이 보고서는 집계값만 사용", "rows stay at each site; aggregates only"),
        ),
    ]
    head = tuple(t(k, lang) for k in ("site", "status", "reason", "grant", "cohort", "unscored"))
    site_rows = tuple(
        (s, t(r.status, lang), r.reason or DASH, r.grant_id or DASH, count(r.cohort), count(r.unscored))
        for s, r in run.sites.items()
    )
    return Section(
        id="provenance",
        title=t("provenance", lang),
        tables=(_kv(rows, lang), Table(head=head, rows=site_rows)),
    )


def model_card(card: ModelCard | None, lang: Lang) -> Section:
    """Intended use, users, population, out-of-scope uses, training data, inputs and known risks."""
    if card is None:
        return Section(
            id="model-card",
            title=t("model_card", lang),
            paragraphs=(_l(lang, "모델 카드가 주어지지 않음(--model-card).", "No model card given (--model-card)."),),
        )
    td = card.training_data
    rows = [
        (_l(lang, "개발자", "Developer"), f"{card.developer} · {card.contact}"),
        (_l(lang, "단계", "Release stage"), f"{card.release_stage} ({card.release_date})"),
        (_l(lang, "모델 유형", "Model type"), _x(card.model_type, lang)),
        (_l(lang, "사용 목적", "Intended use"), _x(card.intended_use, lang)),
        (_l(lang, "사용자", "Intended users"), _x(card.intended_users, lang)),
        (_l(lang, "대상 인구", "Target population"), _x(card.target_population, lang)),
        (_l(lang, "사용 범위 밖", "Out of scope"), "; ".join(_x(x, lang) for x in card.out_of_scope)),
        (_l(lang, "출력", "Output"), _x(card.outputs, lang)),
        (
            _l(lang, "학습 데이터", "Training data"),
            f"{td.site}: {_x(td.description, lang)} ({td.period_start}–{td.period_end}; n = {td.n:,}, "
            f"{_l(lang, '사건', 'events')} {td.events:,}{'; synthetic' if td.synthetic else ''})",
        ),
        (_l(lang, "알려진 위험", "Known risks"), "; ".join(_x(x, lang) for x in card.known_risks)),
        (_l(lang, "공정성 고려", "Fairness"), "; ".join(_x(x, lang) for x in card.fairness_considerations)),
        (_l(lang, "규제 상태", "Regulatory status"), _x(card.regulatory_status, lang)),
    ]
    feats = Table(
        head=(
            _l(lang, "입력", "Input"),
            _l(lang, "코드", "Code"),
            _l(lang, "단위", "Unit"),
            _l(lang, "결측", "Missing"),
        ),
        rows=tuple(
            (f.label_ko if lang == "ko" else f.label_en, f.code, f.unit or DASH, f.when_missing) for f in card.features
        ),
    )
    perf = Table(
        head=(_l(lang, "설정", "Setting"), t("site", lang), "n", t("events", lang), "AUROC", "slope", "CITL", "Brier"),
        rows=tuple(
            (
                p.setting,
                p.site,
                f"{p.n:,}",
                f"{p.events:,}",
                num(p.auroc),
                num(p.calibration_slope),
                num(p.calibration_in_the_large),
                num(p.brier, 4),
            )
            for p in card.performance
        ),
        caption=_l(lang, "모델 카드에 기록된 개발 단계 성능", "Performance recorded in the model card (development)"),
    )
    return Section(id="model-card", title=t("model_card", lang), tables=(_kv(rows, lang), feats, perf))


def methods(run: ValidationRun, lang: Lang, min_cell: int) -> Section:
    """How the numbers were computed."""
    th = f"{run.pooled.threshold.counts.threshold:g}" if run.pooled else DASH
    paras = (
        _l(
            lang,
            "각 기관은 승인(grant)을 확인한 뒤 모델 파일의 SHA-256을 검증하고, 자체 OMOP CDM에서 "
            "특성 명세에 따라 코호트와 "
            "입력값을 추출해 ONNX 모델로 점수를 계산했다. 기관 밖으로는 공개 통제를 거친 집계값만 나간다.",
            "Each site checked the data-access grant, verified the model file's SHA-256, extracted the cohort and "
            "inputs from its own OMOP CDM per the feature spec and scored them with the ONNX model. Only "
            "disclosure-controlled aggregates left the site.",
        ),
        _l(
            lang,
            "판별력: AUROC(DeLong CI, 로짓 척도), AUPRC. 보정: 보정 절편(CITL)과 기울기(Wald CI), "
            "ECE(10개 등간격 구간), "
            f"Brier. 임계값 {th}에서 민감도·특이도·PPV·NPV(Wilson CI). 임상적 유용성: 결정곡선의 순이익.",
            "Discrimination: AUROC (DeLong CI on the logit scale), AUPRC. Calibration: calibration-in-the-large and "
            f"slope (Wald CIs), ECE (10 equal-width bins), Brier. At threshold {th}: sensitivity, specificity, PPV, "
            "NPV (Wilson CIs). Clinical utility: net benefit (decision curves).",
        ),
        _l(
            lang,
            "통합 지표는 기관의 충분통계량(보호된 점수 히스토그램, Mann–Whitney U, 연합 Newton–Raphson)으로 계산했다. "
            "기관 간 이질성은 DerSimonian–Laird 무작위효과 메타분석(I², τ², 95% 예측구간)으로 정량화했다.",
            "Pooled metrics come from site sufficient statistics (protected score histograms, Mann–Whitney U, "
            "federated Newton–Raphson). Heterogeneity across sites: DerSimonian–Laird random-effects meta-analysis "
            "(I², τ², 95% prediction interval).",
        ),
        _l(
            lang,
            f"기관별 곡선(ROC, 보정, 결정)은 각 기관이 공개한 보호된 히스토그램"
            f"(칸마다 최소 {min_cell})에서 구간 내 선형 "
            "보간으로 도출했으며 행 단위 자료에서 계산한 곡선과 작은 차이가 있을 수 있다.",
            f"Per-site curves (ROC, calibration, decision) are derived from each site's protected histogram (at "
            f"least {min_cell} per cell) with linear interpolation within bins; they may differ slightly from curves "
            "computed on rows.",
        ),
    )
    return Section(id="methods", title=t("methods", lang), paragraphs=paras)


def sites(run: ValidationRun, lang: Lang, min_cell: int) -> Section:
    """Per-site tables with the pooled row."""
    return Section(
        id="sites",
        title=t("sites", lang),
        tables=(tables.site_table(run, lang), tables.threshold_table(run, lang, min_cell)),
    )


def meta_analysis(inputs: ReportInputs, lang: Lang) -> Section:
    """The random-effects summaries (and the centralised reference, synthetic data only)."""
    paras: tuple[str, ...] = ()
    c = inputs.centralised
    if c is not None and isinstance(c.get("auroc"), float) and math.isfinite(c["auroc"]):
        paras = (
            _l(
                lang,
                f"중앙 집중 참조(합성 데이터) AUROC {num(c['auroc'])}",
                f"Centralised reference (synthetic data) AUROC {num(c['auroc'])}",
            ),
        )
    return Section(
        id="meta-analysis",
        title=t("meta", lang),
        paragraphs=paras,
        tables=(tables.meta_table(inputs.run.meta_analysis, lang),),
    )


def figures(run: ValidationRun, lang: Lang) -> Section:
    """References to the five figures (drawn by `dari.reports.figures`)."""
    hist = _l(lang, " 각 기관의 보호된 히스토그램에서 도출.", " Derived from each site's protected histogram.")
    refs = (
        FigureRef(key="roc", caption=t("fig_roc", lang) + hist),
        FigureRef(key="calibration", caption=t("fig_calibration", lang) + hist),
        FigureRef(
            key="decision",
            caption=t("fig_decision", lang) + _l(lang, " (전체 치료·무치료 포함)", " (with treat-all and treat-none)"),
        ),
        FigureRef(
            key="forest_auroc",
            caption=t("fig_forest_auroc", lang)
            + _l(
                lang, " (◆ 무작위효과 통합, 선 = 예측구간)", " (◆ random-effects summary, line = prediction interval)"
            ),
        ),
        FigureRef(key="forest_slope", caption=t("fig_forest_slope", lang)),
    )
    return Section(id="figures", title=t("figures", lang), figures=refs)


def subgroups(inputs: ReportInputs, lang: Lang, min_cell: int) -> Section:
    """Per-site subgroup tables and fairness gaps, or why there are none."""
    if not inputs.subgroups:
        return Section(
            id="subgroups",
            title=t("subgroups", lang),
            paragraphs=(
                _l(
                    lang,
                    "결과 파일에 하위집단(성별, 연령대) 결과가 없다: 현재 검증 작업은 이를 계산하지 않는다.",
                    "The results file holds no subgroup results (sex, age band): the validation job does not "
                    "compute them yet.",
                ),
            ),
        )
    out: list[Table] = []
    for site, variables in inputs.subgroups.items():
        out += tables.subgroup_tables(site, variables, lang, min_cell)
    notes = [
        _l(
            lang,
            f"사건 또는 비사건이 {min_cell} 미만인 수준은 비공개(상보적 비공개 포함)이며 수치를 표시하지 않는다.",
            f"Levels with fewer than {min_cell} events or non-events are suppressed (with complementary suppression) "
            "and show no number.",
        )
    ]
    if inputs.run.subgroup_meta:
        out += tables.subgroup_meta_tables(inputs.run.subgroup_meta, lang)
        notes.append(
            _l(
                lang,
                "기관 통합 표는 각 기관이 공개한 하위집단 결과만으로 DerSimonian–Laird 무작위효과 모형을 "
                "적용한 것이다. 한 기관에서 비공개된 수준은 그 기관을 제외하고 통합하며, "
                "통합에 쓰인 기관을 표시한다.",
                "The across-site tables pool each level's released site results with a DerSimonian–Laird "
                "random-effects model; a level a site suppressed is pooled without that site, and the sites used "
                "are listed.",
            )
        )
    return Section(id="subgroups", title=t("subgroups", lang), paragraphs=tuple(notes), tables=tuple(out))


def limitations(inputs: ReportInputs, lang: Lang) -> Section:
    """Limitations that follow from the run itself."""
    run = inputs.run
    items = [
        _l(
            lang,
            "통합 AUROC의 CI는 Hanley–McNeil 근사(DeLong은 모든 행의 순위가 필요).",
            "The pooled AUROC CI is Hanley–McNeil's approximation (DeLong needs every row's rank).",
        ),
        _l(
            lang,
            "기관별 곡선은 보호된 히스토그램에서 근사했다.",
            "Per-site curves are approximated from protected histograms.",
        ),
    ]
    if run.refused or run.failed:
        items.append(
            _l(
                lang,
                f"제외된 기관: {', '.join(run.refused + run.failed)} — 선택 편향 가능.",
                f"Sites left out: {', '.join(run.refused + run.failed)} — possible selection bias.",
            )
        )
    if len(run.covered) < 3:
        items.append(
            _l(lang, "기관이 3곳 미만이라 예측구간을 계산할 수 없다.", "Fewer than 3 sites: no prediction interval.")
        )
    if run.engine == "simulation":
        items.append(
            _l(
                lang,
                "시뮬레이션 엔진으로 실행(합성 데이터일 수 있음).",
                "Run in the simulation engine (possibly synthetic data).",
            )
        )
    return Section(id="limitations", title=t("limitations", lang), bullets=tuple(items))
