"""Study applications: what a researcher or AI vendor asks for, validated at the boundary, saved whole or not at all."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.cohort.definition import CohortDefinition
from dari.hub import audit, notifications
from dari.hub.db.models import Application, ApplicationDataset, Dataset, User, utcnow
from dari.hub.governance.documents import UploadedDocument, checked_pdf
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.requested_data import RequestedVariable, concept_set_tables, parse_cohort
from dari.hub.governance.roles import Permission, allowed

MAX_PERIOD_DAYS = 5 * 366
_IRB = re.compile(r"^[A-Za-z0-9가-힣][A-Za-z0-9가-힣_./-]{2,99}$")
# Dates are entered as calendar days in Korea: a period runs from 00:00 KST of its first day to 24:00 KST of its last.
SEOUL = ZoneInfo("Asia/Seoul")

# The data-use agreement the applicant accepts; its version and SHA-256 are stored with each application.
DUA_VERSION = "2026-12"
DUA_TEXT: tuple[str, str] = (
    "1. 가명정보의 재식별을 시도하지 않습니다. 2. 승인된 분석 유형과 요청한 데이터셋, 변수만 사용합니다. "
    "3. 모든 결과는 공개 전 기관의 검토를 받으며, 10명 미만의 집계는 공개하지 않습니다. "
    "4. 승인 조건을 지키며, 기관이 권한을 철회하면 즉시 사용을 멈춥니다. 5. 모든 사용은 감사 기록에 남습니다.",
    "1. I will not attempt to re-identify pseudonymised data. 2. I will use only the approved analysis types, "
    "requested datasets and variables. 3. Every result is reviewed by the site before release; counts under 10 "
    "are never released. 4. I keep the conditions of approval and stop at once when a site revokes its part. "
    "5. Every use is recorded in the audit log.",
)
DUA_SHA256 = hashlib.sha256("\n".join(DUA_TEXT).encode()).hexdigest()


class AnalysisType(StrEnum):
    """What a grant may be used for; each federated job type names one."""

    FEASIBILITY = "feasibility"
    CHARACTERISATION = "characterisation"
    MODEL_VALIDATION = "model_validation"
    FEDERATED_TRAINING = "federated_training"
    RESEARCH_POD = "research_pod"


ANALYSIS_LABELS: dict[AnalysisType, tuple[str, str]] = {
    AnalysisType.FEASIBILITY: ("실현가능성 분석", "Feasibility"),
    AnalysisType.CHARACTERISATION: ("특성 분석", "Characterisation"),
    AnalysisType.MODEL_VALIDATION: ("모델 검증", "Model validation"),
    AnalysisType.FEDERATED_TRAINING: ("연합 학습", "Federated training"),
    AnalysisType.RESEARCH_POD: (
        "연구 포드 (연구자 코드를 기관 안에서 실행, 두 명의 반출 검토 후 결과만 반출)",
        "Research pod (the researcher's own code runs at the site; only outputs two checkers approve leave)",
    ),
}


class ApplicationCreate(BaseModel):
    """An application as submitted (form or API); every field bounded, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=3, max_length=300)
    purpose: str = Field(min_length=10, max_length=5000)
    irb_number: str = Field(min_length=3, max_length=100)
    applicant_affiliation: str = Field(default="", max_length=300)
    dataset_ids: list[str] = Field(min_length=1, max_length=50)
    cohort_json: str | dict[str, Any] | None = Field(
        default=None, description="a dari cohort definition or an ATLAS (Circe) cohort expression, as JSON"
    )
    variables: list[RequestedVariable] = Field(default_factory=list, max_length=200)
    analysis_types: list[AnalysisType] = Field(min_length=1, max_length=len(AnalysisType))
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

    @field_validator("dataset_ids")
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

    @field_validator("cohort_json")
    @classmethod
    def _cohort(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None:
            try:
                parse_cohort(value)
            except Exception as exc:  # an InputError naming the JSON path: pydantic reports it on this field
                raise ValueError(str(exc).removeprefix("cohort_json: ")) from None
        return value

    def cohort(self) -> CohortDefinition | None:
        """The requested cohort as a dari definition (ATLAS JSON imported), or None."""
        return None if self.cohort_json is None else parse_cohort(self.cohort_json)

    @model_validator(mode="after")
    def _variables(self) -> ApplicationCreate:
        keys = [(v.table, v.concept_set) for v in self.variables]
        if len(set(keys)) != len(keys):
            raise ValueError("variables must not repeat")
        cohort = self.cohort()
        known = concept_set_tables(cohort) if cohort else {}
        for v in self.variables:
            if v.concept_set is not None and v.concept_set not in known:
                raise ValueError(f"variables: concept set {v.concept_set!r} is not one of the cohort's")
        return self

    @model_validator(mode="after")
    def _period(self) -> ApplicationCreate:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if (self.period_end - self.period_start).days > MAX_PERIOD_DAYS:
            raise ValueError(f"the period may last at most {MAX_PERIOD_DAYS} days")
        return self


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 in Korea of a calendar day, as UTC (how the hub stores a period's bounds)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=SEOUL).astimezone(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """A stored time as aware UTC (SQLite returns naive datetimes; they were written as UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def seoul_day(value: dt.datetime) -> dt.date:
    """The calendar day in Korea of a stored instant."""
    return aware(value).astimezone(SEOUL).date()


def last_day(end: dt.datetime) -> dt.date:
    """The last day included by an exclusive end instant, in Korea: the end date exactly as entered."""
    return seoul_day(aware(end) - dt.timedelta(days=1))


def submit_application(
    session: Session, applicant: User, data: ApplicationCreate, irb_document: UploadedDocument | None = None
) -> Application:
    """Save an application (and its IRB document) for joint DRB review by every site whose datasets it requests."""
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
    if data.period_end < utcnow().astimezone(SEOUL).date():
        raise ConflictError("the requested period has ended already")
    cohort = data.cohort()
    documents = [checked_pdf(irb_document)] if irb_document is not None else []
    application = Application(
        applicant_id=applicant.id,
        title=data.title,
        purpose=data.purpose,
        irb_number=data.irb_number,
        applicant_affiliation=data.applicant_affiliation,
        analysis_types=[t.value for t in data.analysis_types],
        variables=[v.model_dump(mode="json") for v in data.variables],
        cohort=cohort.model_dump(mode="json") if cohort else None,
        period_start=start_of_day(data.period_start),
        period_end=start_of_day(data.period_end + dt.timedelta(days=1)),  # the end date is included
        dua_accepted_at=utcnow(),
        dua_version=DUA_VERSION,
        dua_sha256=DUA_SHA256,
        documents=documents,
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
        detail={
            "datasets": data.dataset_ids,
            "analysis_types": application.analysis_types,
            "cohort": cohort.digest() if cohort else None,
            "documents": [d.sha256 for d in documents],
            "dua": DUA_VERSION,
        },
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
