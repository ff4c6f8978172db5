"""The demo's training step: a model trained at site-1 and site-2 (Flower, FedAvg) and validated at site-3.

The researcher applies for federated training at site-1 and site-2 and for validation at site-3; the three DRBs
approve (in the demo hub, as in `build_demo_hub`). Then `train_and_validate`: training through the site guard
at the two sites, the existing validation job at site-3 (a site that did not train), the card, the registry
entry. A site-3 too small for the minimum cell is refused, and the demo says so and goes on.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dari.cli.console import out
from dari.errors import DariError

ROUNDS = 10


def _training_grant(hub_db: Path) -> str | None:
    """The researcher's approved application for training at site-1/site-2 and validation at site-3."""
    from sqlalchemy import select

    from dari.hub.db.engine import make_engine, session_factory
    from dari.hub.db.models import Grant
    from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
    from dari.hub.governance.review import Decision, ReviewCreate, record_review
    from dari.hub.governance.users import get_user

    engine = make_engine(hub_db)
    factory = session_factory(engine)
    today = dt.date.today()
    try:
        with factory() as session, session.begin():
            application = submit_application(
                session,
                get_user(session, "researcher"),
                ApplicationCreate(
                    title="CKD 진행 예측 모델의 연합 학습과 외부 검증 (Federated training and external validation)",
                    purpose="site-1과 site-2에서 연합 학습한 모델을 학습에 참여하지 않은 site-3에서 외부 검증한다.",
                    irb_number="IRB-DEMO-2026-002",
                    dataset_ids=["site-1-cdm", "site-2-cdm", "site-3-cdm"],
                    analysis_types=[AnalysisType.FEDERATED_TRAINING, AnalysisType.MODEL_VALIDATION],
                    period_start=today,
                    period_end=today + dt.timedelta(days=365),
                    dua_accepted=True,
                ),
            )
            application_id = application.id
        for name in ("drb1", "drb2a", "drb2b", "drb3"):
            with factory() as session, session.begin():
                record_review(session, get_user(session, name), application_id, ReviewCreate(decision=Decision.APPROVE))
        with factory() as session:
            grant = session.execute(select(Grant).where(Grant.application_id == application_id)).scalar_one_or_none()
            return grant.id if grant else None
    finally:
        engine.dispose()


def train_demo(out_dir: Path, folders: dict[str, Path], hub_db: Path) -> dict[str, Any]:
    """Train at site-1 and site-2, validate at site-3; prints what happened; the external AUROC per site."""
    from dari.federation.flower.grants import HubStoreGrantChecker
    from dari.federation.flower.train_evidence import train_and_validate
    from dari.federation.flower.train_simulation import build_training
    from dari.models.reference import reference_model_paths

    grant = _training_grant(hub_db)
    training = [folders["site-1"], folders["site-2"]]
    request = build_training(training, reference_model_paths().spec, requester="researcher", rounds=ROUNDS)
    try:
        evidence = train_and_validate(
            training,
            [folders["site-3"]],
            request,
            out_dir / "training",
            grant_checker=HubStoreGrantChecker.from_url(hub_db),
            hub_store=hub_db,
            reports=False,  # the card and results carry the evidence; the demo's report step already shows a report
            command="dari demo",
        )
    except DariError as exc:  # a network too small for the minimum cell at every training site: say so, go on
        out.print(f"  not trained: {exc}")
        return {}
    run = evidence.run
    out.print(
        f"  grant {grant}: trained by {', '.join(run.trained_by)} ({run.strategy}, {run.rounds_completed} rounds; "
        f"privacy: none); model {evidence.model}"
    )
    for site, auc in evidence.external.items():
        if auc is not None:
            out.print(f"  external validation at {site} (did not train): AUROC {auc:.3f}")
        else:
            out.print(f"  {site}: not validated (see {evidence.results})")
    if evidence.report_id:
        out.print(f"  registered in the hub; report {evidence.report_id} awaits site-3's deployment approver")
    return evidence.external
