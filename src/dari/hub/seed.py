"""The consortium the demo and the tests start from: three hospitals, their DRBs and stewards, applicants."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from dari.catalog.dataset import DatasetRecord
from dari.hub.catalog import add_site, publish_dataset
from dari.hub.db.models import User
from dari.hub.governance.roles import Role
from dari.hub.governance.users import add_user


class DemoPerson(BaseModel):
    """A demo login (synthetic people only)."""

    model_config = ConfigDict(frozen=True)
    username: str
    display_name: str
    role: Role
    site_id: str | None = None


DEMO_SITES: tuple[tuple[str, str, str, int], ...] = (
    ("site-1", "다리대학교병원", "Dari University Hospital", 1),
    ("site-2", "한강의료원", "Hangang Medical Center", 2),
    ("site-3", "남해병원", "Namhae Hospital", 1),
)

DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(username="admin", display_name="플랫폼 관리자", role=Role.PLATFORM_ADMIN),
    DemoPerson(username="researcher", display_name="김연구", role=Role.RESEARCHER),
    DemoPerson(username="vendor", display_name="AI 기업 담당자", role=Role.AI_VENDOR),
    DemoPerson(username="clinician", display_name="이임상", role=Role.CLINICIAN, site_id="site-1"),
    DemoPerson(username="steward1", display_name="site-1 데이터 관리자", role=Role.DATA_STEWARD, site_id="site-1"),
    DemoPerson(username="steward2", display_name="site-2 데이터 관리자", role=Role.DATA_STEWARD, site_id="site-2"),
    DemoPerson(username="steward3", display_name="site-3 데이터 관리자", role=Role.DATA_STEWARD, site_id="site-3"),
    DemoPerson(username="drb1", display_name="site-1 심의위원", role=Role.DRB_MEMBER, site_id="site-1"),
    DemoPerson(username="drb2a", display_name="site-2 심의위원 A", role=Role.DRB_MEMBER, site_id="site-2"),
    DemoPerson(username="drb2b", display_name="site-2 심의위원 B", role=Role.DRB_MEMBER, site_id="site-2"),
    DemoPerson(username="drb3", display_name="site-3 심의위원", role=Role.DRB_MEMBER, site_id="site-3"),
    DemoPerson(
        username="approver1", display_name="site-1 AI 도입 승인 위원", role=Role.DEPLOYMENT_APPROVER, site_id="site-1"
    ),
    # The airlock of research pods: two output checkers of site-1 (a release needs both).
    DemoPerson(username="checker1a", display_name="site-1 반출 검토자 A", role=Role.OUTPUT_CHECKER, site_id="site-1"),
    DemoPerson(username="checker1b", display_name="site-1 반출 검토자 B", role=Role.OUTPUT_CHECKER, site_id="site-1"),
)


def seed_consortium(session: Session, password: str, *, quorum_override: int | None = None) -> dict[str, User]:
    """Add the demo sites and people (all with `password`); returns the users by name."""
    for site_id, ko, en, quorum in DEMO_SITES:
        add_site(session, site_id, ko, en, drb_quorum=quorum_override or quorum)
    return {
        p.username: add_user(
            session,
            username=p.username,
            password=password,
            role=p.role,
            display_name=p.display_name,
            site_id=p.site_id,
        )
        for p in DEMO_PEOPLE
    }


def sample_record(
    site_id: str, title_en: str, title_ko: str, description_en: str, description_ko: str
) -> DatasetRecord:
    """A small dataset record for tests and examples that have no site CDM at hand."""
    return DatasetRecord(
        identifier=f"{site_id}-cdm",
        title={"ko": title_ko, "en": title_en},
        description={"ko": description_ko, "en": description_en},
        publisher={"ko": site_id, "en": site_id},
        contact_point="steward@example.org",
        themes=["HEAL"],
        keywords={"en": [], "ko": []},
        temporal_start="2015-01-01",
        temporal_end="2024-12-31",
        number_of_records="1000",
        number_of_unique_individuals="100",
        min_typical_age=20,
        max_typical_age=89,
        coding_systems=["KCD8"],
        cdm_version="v5.4",
        access_rights="restricted",
        quality_score=None,
    )


def publish_samples(session: Session, admin: User) -> None:
    """One sample dataset per demo site (for tests without CDMs)."""
    texts = {
        "site-1": ("Diabetes cohort", "당뇨병 코호트", "Patients with diabetes mellitus", "당뇨병 환자 진료 기록"),
        "site-2": ("Kidney registry", "신장 등록", "Chronic kidney disease follow-up", "만성 신장병 추적 자료"),
        "site-3": ("Heart records", "심장 기록", "Heart failure and hypertension", "심부전과 고혈압 환자"),
    }
    for site_id, (te, tk, de, dk) in texts.items():
        publish_dataset(session, admin, site_id, sample_record(site_id, te, tk, de, dk), None, None)
