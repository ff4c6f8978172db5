"""The report's sections, each built from the run (and the card) in one language."""

from __future__ import annotations

import math

import dari
from dari.federation.flower.jobs import ValidationRun
from dari.models.model_card import ModelCard, Text
from dari.reports import tables
from dari.reports.formatting import DASH, count, estimate, interval, num, percent
from dari.reports.i18n import Lang, t
from dari.reports.numbers import ReportNumbers, approx
from dari.reports.report_model import FigureRef, Section, Table
from dari.reports.results_file import ReportInputs


def _l(lang: Lang, ko: str, en: str) -> str:
    return ko if lang == "ko" else en


def _x(text: Text, lang: Lang) -> str:
    return text.ko if lang == "ko" else text.en


def _kv(rows: list[tuple[str, str]], lang: Lang) -> Table:
    return Table(head=(t("field", lang), t("value", lang)), rows=tuple(rows))


def summary(run: ValidationRun, nums: ReportNumbers, card: ModelCard | None, lang: Lang) -> Section:
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
    p, meta = nums.pooled, nums.meta.get("auroc")
    if p is not None:
        paras.append(
            _l(
                lang,
                f"통합 결과: n = {p.n:,}, 사건 {p.events:,}; AUROC {estimate(p.auroc)}; 보정 기울기 "
                f"{estimate(p.slope)}; 보정 절편 {estimate(p.citl)}; Brier {num(p.brier, 4)}; "
                f"임계값 {p.threshold.counts.threshold:g}에서 민감도 {num(p.threshold.sensitivity.estimate)}, "
                f"특이도 {num(p.threshold.specificity.estimate)}.",
                f"Pooled: n = {p.n:,}, {p.events:,} events; AUROC {estimate(p.auroc)}; calibration slope "
                f"{estimate(p.slope)}; calibration-in-the-large {estimate(p.citl)}; Brier "
                f"{num(p.brier, 4)}; at threshold {p.threshold.counts.threshold:g} sensitivity "
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


def provenance(
    inputs: ReportInputs, nums: ReportNumbers, card: ModelCard | None, lang: Lang, when: str, min_cell: int
) -> Section:
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
    head = tuple(t(k, lang) for k in ("site", "status", "reason", "grant", "cohort", "unscored", "n"))
    site_rows = tuple(
        (
            s,
            t(r.status, lang),
            r.reason or DASH,
            r.grant_id or DASH,
            approx(r.cohort),
            approx(r.unscored),
            count(nums.sites[s].n) if s in nums.sites else DASH,
        )
        for s, r in run.sites.items()
    )
    base = nums.rounding_base
    caption = _l(
        lang,
        f"코호트와 점수 산출 불가 수는 기관에서 {base} 단위로 반올림(또는 잡음 추가)되어 공개되므로 근삿값(≈)이다. "
        f"분석 n은 기관이 지표와 함께 공개한 정확한 값이며 모든 통계량은 이 n에서 계산했다.",
        f"Cohort and not-scorable counts are released rounded to {base} (possibly with keyed noise), hence "
        f"approximate (≈); n analysed is the exact count each site released with its metrics, and every statistic "
        f"is computed on it.",
    )
    return Section(
        id="provenance",
        title=t("provenance", lang),
        tables=(_kv(rows, lang), Table(head=head, rows=site_rows, caption=caption)),
    )


def _federated_row(card: ModelCard, lang: Lang) -> list[tuple[str, str]]:
    """The card's federated-training record (sites, rounds, strategy, privacy, grants), when it has one."""
    if card.training is None:
        return []
    from dari.training.card import describe_training

    return [(_l(lang, "연합 학습", "Federated training"), describe_training(card.training, lang))]


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
        *_federated_row(card, lang),
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


def methods(nums: ReportNumbers, lang: Lang) -> Section:
    """How the numbers were computed, written from the parameters the run used (threshold, bins, CI methods, floor)."""
    p = nums.pooled
    th = f"{nums.threshold:g}" if nums.threshold is not None else DASH
    cell = nums.min_cell
    pooled_ci = {"hanley-mcneil": "Hanley–McNeil", "delong": "DeLong"}.get(p.auroc_ci_method, "—") if p else DASH
    sb = nums.site_calibration_bins
    if p is not None:
        edges = ", ".join(f"{e:g}" for e in p.calibration_edges)
        pooled_bins = _l(
            lang,
            f"통합 보정 곡선과 통합 ECE는 기관 히스토그램을 합친 뒤 칸마다 최소 {cell}이 되도록 병합하고 남은 "
            f"{p.calibration_bins}개 구간(경계 {edges})에서 계산했다.",
            f"The pooled calibration curve and pooled ECE use the {p.calibration_bins} bins left after the sites' "
            f"histograms were merged so that every cell holds at least {cell} (edges {edges}).",
        )
    else:
        pooled_bins = _l(lang, "통합 결과 없음.", "No pooled result.")
    exact = (
        ""
        if p is None or p.threshold_exact
        else _l(
            lang,
            " 일부 기관의 히스토그램에 임계값 경계가 없어 통합 2×2 표는 구간 내 보간값이다.",
            " A site's histogram had no edge at the threshold, so the pooled 2×2 table is interpolated within a bin.",
        )
    )
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
            f"판별력: AUROC(기관별 DeLong CI, 통합 {pooled_ci} CI), AUPRC. 보정: 보정 절편(CITL)과 기울기(Wald CI), "
            f"Brier. 기관별 ECE는 기관이 자체 행으로 {sb}개 등간격 구간(검증 명세의 기본값; 결과 파일에는 명세가 "
            f"기록되지 않음)에서 계산했다. 임계값 {th}에서 민감도·특이도·PPV·NPV(Wilson CI; 2×2 표의 칸이 "
            f"{cell} 미만이면 비공개). 임상적 유용성: 결정곡선의 순이익.{exact}",
            f"Discrimination: AUROC (per site DeLong CI; pooled {pooled_ci} CI), AUPRC. Calibration: "
            f"calibration-in-the-large and slope (Wald CIs), Brier. A site's ECE is computed by the site over its "
            f"rows on {sb} equal-width bins (the validation spec's default; the results file does not record the "
            f"spec). At threshold {th}: sensitivity, specificity, PPV, NPV (Wilson CIs; withheld when a cell of the "
            f"2×2 table is below {cell}). Clinical utility: net benefit (decision curves).{exact}",
        ),
        pooled_bins,
        _l(
            lang,
            "통합 지표는 기관의 충분통계량(보호된 점수 히스토그램, Mann–Whitney U, 연합 Newton–Raphson)으로 계산했다. "
            "기관 간 이질성은 DerSimonian–Laird 무작위효과 메타분석(I², τ², 95% 예측구간; 기관 3곳 이상)으로 "
            "정량화했다.",
            "Pooled metrics come from site sufficient statistics (protected score histograms, Mann–Whitney U, "
            "federated Newton–Raphson). Heterogeneity across sites: DerSimonian–Laird random-effects meta-analysis "
            "(I², τ², 95% prediction interval from 3 sites).",
        ),
        _l(
            lang,
            f"기관별 곡선(ROC, 보정, 결정)은 각 기관이 공개한 보호된 히스토그램"
            f"(칸마다 최소 {cell})에서 구간 내 선형 보간으로 도출했다. 그림의 범례에 적힌 AUROC와 ECE는 표와 같은 값"
            "(기관이 행으로 계산한 값)이며, 곡선 자체는 히스토그램에서 도출한 것이다.",
            f"Per-site curves (ROC, calibration, decision) are derived from each site's protected histogram (at "
            f"least {cell} per cell) with linear interpolation within bins. The AUROC and ECE in the figures' "
            "legends are the tables' values (computed by each site over its rows); the curves themselves come from "
            "the histograms.",
        ),
    )
    return Section(id="methods", title=t("methods", lang), paragraphs=paras)


def sites(nums: ReportNumbers, lang: Lang) -> Section:
    """Per-site tables with the pooled row."""
    return Section(
        id="sites",
        title=t("sites", lang),
        tables=(tables.site_table(nums, lang), tables.threshold_table(nums, lang, nums.min_cell)),
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
            f"* 비공개: 사건 또는 비사건이 {min_cell} 미만인 수준, 그리고 그 값을 역산하지 못하도록 함께 가린 수준"
            f"(상보적 비공개). 수준의 크기 자체는 {min_cell}보다 훨씬 클 수 있으며 어떤 수치도 표시하지 않는다.",
            f"* Suppressed: a level with fewer than {min_cell} events or non-events, and any level hidden with it so "
            f"that it cannot be worked out from the site total (complementary suppression). The level itself may "
            f"hold far more than {min_cell} patients; no number of it is shown.",
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
