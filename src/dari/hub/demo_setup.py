"""The demo's hub: the synthetic sites publish; a researcher's application is approved by the DRBs of two sites."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker

from dari.atomic import atomic_path
from dari.hub.catalog import publish_dataset
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.requested_data import RequestedVariable
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import get_user
from dari.hub.keys import ensure_hub_key
from dari.hub.publication import Publication
from dari.hub.seed import DEMO_PEOPLE, seed_consortium


class DemoHub(BaseModel):
    """Where the demo hub is and how to log in."""

    model_config = ConfigDict(frozen=True)
    database: Path
    logins_file: Path
    password: str
    application_id: int
    grant_id: str | None


def build_demo_hub(folder: Path, publications: dict[str, Publication]) -> DemoHub:
    """A fresh hub store in `folder`: consortium, published sites, one application approved by two DRBs."""
    database = folder / "hub.db"
    database.unlink(missing_ok=True)
    engine = make_engine(database)
    migrate(engine)
    ensure_hub_key(database)  # a fresh demo folder gets a fresh key; an existing one is kept
    factory = session_factory(engine)
    password = "dari-" + secrets.token_urlsafe(9)  # a fresh password per demo: never a fixed one in the repository
    with factory() as session, session.begin():
        users = seed_consortium(session, password)
        for site_id, publication in publications.items():
            steward = users[f"steward{site_id.removeprefix('site-')}"]
            publish_dataset(
                session, steward, site_id, publication.record, publication.characterisation, publication.quality_score
            )
    application_id, grant_id = _approved_application(factory, sorted(publications))
    engine.dispose()
    logins = folder / "hub-logins.txt"
    with atomic_path(logins) as tmp:
        lines = [f"{p.username}\t{p.role.value}\t{p.site_id or '-'}" for p in DEMO_PEOPLE]
        tmp.write_text(
            f"# dari demo hub logins (synthetic users); password for all: {password}\n" + "\n".join(lines) + "\n",
            encoding="utf-8",
        )
        tmp.chmod(0o600)
    return DemoHub(
        database=database, logins_file=logins, password=password, application_id=application_id, grant_id=grant_id
    )


def _approved_application(factory: sessionmaker[Session], sites: list[str]) -> tuple[int, str | None]:
    chosen = [s for s in ("site-1", "site-2") if s in sites] or sites[:1]
    today = dt.date.today()
    with factory() as session, session.begin():
        application = submit_application(
            session,
            get_user(session, "researcher"),
            ApplicationCreate(
                title="만성 신장병 진행 예측 모델의 다기관 검증 (Multicenter validation of a CKD progression model)",
                purpose="1년 내 CKD 4기 이상 진행 예측 모델을 여러 병원의 가명처리 데이터로 외부 검증한다.",
                irb_number="IRB-DEMO-2026-001",
                dataset_ids=[f"{s}-cdm" for s in chosen],
                applicant_affiliation="다리 연구소 (dari research lab)",
                variables=[
                    RequestedVariable(table="person", label="Person (sex, year of birth)"),
                    RequestedVariable(table="measurement", label="eGFR, HbA1c, SBP"),
                    RequestedVariable(table="condition_occurrence", label="Diabetes, heart failure"),
                ],
                analysis_types=[AnalysisType.FEASIBILITY, AnalysisType.CHARACTERISATION, AnalysisType.MODEL_VALIDATION],
                period_start=today,
                period_end=today + dt.timedelta(days=365),
                dua_accepted=True,
            ),
        )
        application_id = application.id
    reviewers = {"site-1": ["drb1"], "site-2": ["drb2a", "drb2b"], "site-3": ["drb3"]}  # site-2's DRB needs two votes
    for site in chosen:
        for name in reviewers.get(site, []):
            with factory() as session, session.begin():
                record_review(session, get_user(session, name), application_id, ReviewCreate(decision=Decision.APPROVE))
    with factory() as session:
        from sqlalchemy import select

        from dari.hub.db.models import Grant

        grant = session.execute(select(Grant).where(Grant.application_id == application_id)).scalar_one_or_none()
        return application_id, grant.id if grant else None
