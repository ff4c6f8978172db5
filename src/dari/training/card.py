"""The CHAI model card of a federated model: the reference card's task, this training's sites, rounds and privacy.

The model is trained for the reference model's task on its feature spec, so the card keeps the task's fixed
statements (intended use, population, out-of-scope uses, warnings) and replaces what this training decided: the
model's kind, where and how it was trained (`FederatedTraining`: sites with their protected counts and data
months, rounds, strategy, aggregation, the privacy record or none, the grants, start and end) and its external
performance at sites that did not train it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dari.federation.flower.train_jobs import TrainRequest, TrainRun
from dari.models import sha256_file
from dari.models.model_card import (
    FederatedTraining,
    ModelCard,
    Performance,
    Text,
    TrainingData,
    TrainingSite,
    load_card,
)

_KIND = {
    "logistic": ("로지스틱 회귀", "logistic regression"),
    "mlp": ("소형 다층 퍼셉트론(은닉층 1개, tanh)", "small multilayer perceptron (one tanh hidden layer)"),
    "xgboost": ("그래디언트 부스팅 트리(xgboost)", "gradient-boosted trees (xgboost)"),
}


def training_section(run: TrainRun, privacy: Mapping[str, Any] | None = None) -> FederatedTraining:
    """The card's training record of one run (privacy: the DP/SecAgg record, None where none was used)."""
    sites = tuple(
        TrainingSite(
            site=s,
            status=st.status,
            n=st.n.value if st.n is not None else None,
            events=st.events.value if st.events is not None else None,
            rounds_pooled=run.rounds_by_site.get(s, 0),
            data_from=st.data_from,
            data_to=st.data_to,
            grant_id=st.grant_id,
        )
        for s, st in sorted(run.sites.items())
    )
    return FederatedTraining(
        job_id=run.job_id,
        engine="flower-simulation",
        model_family=run.model,
        strategy=run.strategy,
        aggregation=run.aggregation,
        rounds=run.rounds,
        rounds_completed=run.rounds_completed,
        resumed_from=run.resumed_from,
        sites=sites,
        dropped_out=dict(run.dropped_out),
        grant_ids=tuple(sorted({st.grant_id for st in run.sites.values() if st.grant_id})),
        privacy=dict(privacy) if privacy else (run.privacy.model_dump() if run.privacy is not None else None),
        started=run.started,
        finished=run.finished,
    )


def _month(text: str, end: bool) -> dt.date | None:
    if not text:
        return None
    year, month = (int(p) for p in text.split("-"))
    if not end:
        return dt.date(year, month, 1)
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def _external(results: Mapping[str, Any]) -> list[Performance]:
    rows = []
    for site, entry in sorted((results.get("sites") or {}).items()):
        if entry.get("status") != "ok":
            continue
        rows.append(
            Performance(
                setting="external",
                site=site,
                n=int(entry["n"]),
                events=int(entry["events"]),
                auroc=entry.get("auroc"),
                calibration_slope=entry.get("calibration_slope"),
                calibration_in_the_large=entry.get("calibration_intercept"),
                observed_expected=None,
                brier=entry.get("brier"),
                note=Text(ko="학습에 참여하지 않은 병원에서 외부 검증", en="external: a site that did not train"),
            )
        )
    return rows


def federated_card(
    run: TrainRun,
    request: TrainRequest,
    model_path: Path,
    spec_path: Path,
    *,
    base_card: Path,
    validations: list[Mapping[str, Any]],
    command: str,
    privacy: Mapping[str, Any] | None = None,
) -> ModelCard:
    """The card of the trained model: the task's statements from `base_card`, this training's record and the
    external performance of `validations` (result files of `dari validate` at held-out sites)."""
    base = load_card(base_card)
    trained = [s for s in run.sites.values() if s.status == "ok" and s.n is not None]
    starts = [d for s in trained if (d := _month(s.data_from, end=False))]
    ends = [d for s in trained if (d := _month(s.data_to, end=True))]
    ko, en = _KIND[run.model]
    today = dt.date.today()
    performance = [p for v in validations for p in _external(v)]
    names = ", ".join(sorted(run.trained_by)) or "no site"
    card = base.model_copy(
        update={
            "name": f"{base.name} · federated {run.model}",
            "version": "0.1.0",
            "release_date": today,
            "release_stage": "research",
            "summary": Text(
                ko=f"{base.summary.ko} {names}에서 연합 학습({run.strategy}, {run.rounds_completed}라운드)한 {ko}.",
                en=f"{base.summary.en} A {en} trained across {names} ({run.strategy}, {run.rounds_completed} rounds).",
            ),
            "model_type": Text(ko=f"{ko}, 연합 학습(Flower)", en=f"{en}, federated training (Flower)"),
            "training_data": TrainingData(
                site=f"{names} (federated: no row left a site)",
                description=Text(
                    ko=f"{names}의 OMOP CDM 코호트, 각 병원 안에서만 학습(모델 갱신만 전송)",
                    en=f"the OMOP CDM cohorts of {names}, trained inside each site (only model updates left)",
                ),
                period_start=min(starts) if starts else today,
                period_end=max(ends) if ends else today,
                n=sum(s.n.value or 0 for s in trained if s.n is not None),
                events=sum(s.events.value or 0 for s in trained if s.events is not None),
                synthetic=base.training_data.synthetic,
                how_to_rebuild=command,
            ),
            "training": training_section(run, privacy),
            "outputs": Text(
                ko="1년 안에 eGFR 30 미만이 될 확률(0–1)",
                en="Probability (0–1) of an eGFR below 30 within one year",
            )
            if run.model != "logistic"
            else base.outputs,
            "performance": tuple(performance) or (_placeholder(run),),
            "subgroups": (),
            "model_file": model_path.name,
            "model_sha256": sha256_file(model_path),
            "feature_spec_file": spec_path.name,
            "feature_spec_sha256": sha256_file(spec_path),
        }
    )
    return ModelCard.model_validate(card.model_dump())  # model_copy does not validate: the card must


def _placeholder(run: TrainRun) -> Performance:
    """No external validation yet: one row that says so (a card needs one), with no figure."""
    return Performance(
        setting="external",
        site="none yet",
        n=0,
        events=0,
        auroc=None,
        calibration_slope=None,
        calibration_in_the_large=None,
        observed_expected=None,
        brier=None,
        note=Text(ko="외부 검증 전", en=f"not yet validated externally (job {run.job_id})"),
    )


def describe_training(tr: FederatedTraining, lang: str) -> str:
    """One line of the card's training record for a report (Korean or English); privacy 'none' when absent."""
    ko = lang == "ko"
    sites = ", ".join(
        f"{s.site} ({s.status}; n≈{s.n if s.n is not None else '–'}; {s.rounds_pooled} "
        f"{'라운드' if ko else 'rounds'}{'; ' + s.data_from + '–' + s.data_to if s.data_from else ''})"
        for s in tr.sites
    )
    privacy = ", ".join(f"{k}={v}" for k, v in sorted(tr.privacy.items())) if tr.privacy else "none"
    dropped = ", ".join(f"{s} @ {r}" for s, r in sorted(tr.dropped_out.items())) or ("없음" if ko else "none")
    grants = ", ".join(tr.grant_ids) or "–"
    if ko:
        return (
            f"{tr.model_family}, {tr.strategy}/{tr.aggregation}, {tr.rounds_completed}/{tr.rounds} 라운드"
            f"{f' (라운드 {tr.resumed_from}부터 재개)' if tr.resumed_from else ''}; 병원: {sites}; "
            f"중도 이탈: {dropped}; 프라이버시: {privacy}; 승인(grant): {grants}; {tr.started}–{tr.finished}"
        )
    return (
        f"{tr.model_family}, {tr.strategy}/{tr.aggregation}, {tr.rounds_completed}/{tr.rounds} rounds"
        f"{f' (resumed from round {tr.resumed_from})' if tr.resumed_from else ''}; sites: {sites}; dropped out: "
        f"{dropped}; privacy: {privacy}; grants: {grants}; {tr.started}–{tr.finished}"
    )
