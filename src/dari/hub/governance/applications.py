"""Study applications: what a researcher or AI vendor asks for, validated at the boundary, saved whole or not at all."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import Application, ApplicationDataset, Dataset, User, utcnow
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.roles import Permission, allowed

MAX_PERIOD_DAYS = 5 * 366
_IRB = re.compile(r"^[A-Za-z0-9가-힣][A-Za-z0-9가-힣_./-]{2,99}$")


class AnalysisType(StrEnum):
    """What a grant may be used for; each federated job type names one."""

    FEASIBILITY = "feasibility"
    CHARACTERISATION = "characterisation"
    MODEL_VALIDATION = "model_validation"
    FEDERATED_TRAINING = "federated_training"


ANALYSIS_LABELS: dict[AnalysisType, tuple[str, str]] = {
    AnalysisType.FEASIBILITY: ("실현가능성 분석", "Feasibility"),
    AnalysisType.CHARACTERISATION: ("특성 분석", "Characterisation"),
    AnalysisType.MODEL_VALIDATION: ("모델 검증", "Model validation"),
    AnalysisType.FEDERATED_TRAINING: ("연합 학습", "Federated training"),
}


class ApplicationCreate(BaseModel):
    """An application as submitted (form or API); every field bounded, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=3, max_length=300)
    purpose: str = Field(min_length=10, max_length=5000)
    irb_number: str = Field(min_length=3, max_length=100)
    dataset_ids: list[str] = Field(min_length=1, max_length=50)
    variables: list[str] = Field(default_factory=list, max_length=200)
    analysis_types: list[AnalysisType] = Field(min_length=1, max_length=4)
    period_start: dt.date
    period_end: dt.date
    dua_accepted: Literal[True] = Field(description="the applicant accepts the data-use agreement")
    submission_key: str = Field(default_factory=lambda: secrets.token_hex(16), min_length=8, max_length=64)

    @field_validator("irb_number")
    @classmethod
    def _irb_format(cls, value: str) -> str:
        if not _IRB.match(value):
            raise ValueError("must be an IRB approval number of letters, digits and - _ . / (3-100 characters)")
        return value

    @field_validator("dataset_ids", "variables")
    @classmethod
    def _distinct_short(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v or len(v) > 200 for v in cleaned):
            raise ValueError("items must be 1-200 characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("items must not repeat")
        return cleaned

    @field_validator("analysis_types")
    @classmethod
    def _distinct_types(cls, values: list[AnalysisType]) -> list[AnalysisType]:
        if len(set(values)) != len(values):
            raise ValueError("analysis types must not repeat")
        return values

    @model_validator(mode="after")
    def _period(self) -> ApplicationCreate:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if (self.period_end - self.period_start).days > MAX_PERIOD_DAYS:
            raise ValueError(f"the period may last at most {MAX_PERIOD_DAYS} days")
        return self


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def submit_application(session: Session, applicant: User, data: ApplicationCreate) -> Application:
    """Save an application for joint DRB review by every site whose datasets it requests."""
    if not allowed(applicant.role, Permission.APPLY):
        raise ForbiddenError(f"role {applicant.role} may not submit applications")
    if session.execute(select(Application.id).where(Application.submission_key == data.submission_key)).first():
        raise ConflictError("this application was submitted already (duplicate submission)")
    datasets = []
    for dataset_id in data.dataset_ids:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise NotFoundError(f"unknown dataset {dataset_id!r}")
        datasets.append(dataset)
    if data.period_end < utcnow().date():
        raise ConflictError("the requested period has ended already")
    application = Application(
        applicant_id=applicant.id,
        title=data.title,
        purpose=data.purpose,
        irb_number=data.irb_number,
        analysis_types=[t.value for t in data.analysis_types],
        variables=data.variables,
        period_start=_start_of(data.period_start),
        period_end=_start_of(data.period_end + dt.timedelta(days=1)),  # the end date is included
        dua_accepted_at=utcnow(),
        status="under_review",
        submission_key=data.submission_key,
        datasets=[ApplicationDataset(dataset_id=d.id) for d in datasets],
    )
    session.add(application)
    session.flush()
    audit.record(
        session,
        actor=applicant.username,
        action="application.submit",
        target=f"application:{application.id}",
        detail={"datasets": data.dataset_ids, "analysis_types": application.analysis_types},
    )
    notifications.notify(
        session,
        [
            u
            for site in sorted({d.site_id for d in datasets})
            for u in notifications.users_at_site(session, site, ["drb_member"])
        ],
        "application_submitted",
        f"연구 신청 {application.id} 심의 요청: {application.title}",
        f"Application {application.id} awaits review: {application.title}",
        f"/applications/{application.id}",
    )
    return application


def involved_sites(application: Application) -> list[str]:
    """The sites whose DRBs must decide: those publishing a requested dataset."""
    return sorted({link.dataset.site_id for link in application.datasets})


def get_application(session: Session, application_id: int) -> Application:
    """An application by id."""
    application = session.get(Application, application_id)
    if application is None:
        raise NotFoundError(f"unknown application {application_id}")
    return application


def can_view_application(user: User, application: Application) -> bool:
    """The applicant, DRB members and stewards of an involved site, and platform admins may see an application."""
    if user.role == "platform_admin" or application.applicant_id == user.id:
        return True
    return user.role in ("drb_member", "data_steward") and user.site_id in involved_sites(application)


def applications_of(session: Session, user: User) -> list[Application]:
    """The user's own applications, newest first."""
    query = select(Application).where(Application.applicant_id == user.id).order_by(Application.id.desc())
    return list(session.execute(query).scalars())
