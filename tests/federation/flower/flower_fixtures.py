"""Shared builders of the Flower tests: small synthetic sites, a hub store with a grant, and its tickets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from argon2 import PasswordHasher, profiles
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import dari.hub.governance.users as users_module
from dari.disclosure import DisclosureRules
from dari.etl.pipeline import run_etl
from dari.federation.guard import SiteBinding
from dari.federation.ticket import hub_public_pem
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.db.models import Grant
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import get_user
from dari.hub.keys import ensure_hub_key
from dari.hub.seed import publish_samples, seed_consortium
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

users_module._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)  # seeding many users, cheaply
PATIENTS = 1500
#: Small test sites have few events; the tests lower the minimum cell size (the default stays 10).
MIN_CELL = 3


def build_sites(root: Path, n: int = 2) -> list[Path]:
    """`n` synthetic sites (CDM built without pseudonymisation; the synth's truth/ marker present)."""
    folders = []
    for profile in network_profiles(3)[:n]:
        folder = root / profile.site_id
        generate_site(profile, folder, PATIENTS, seed=31)
        run_etl(folder)
        folders.append(folder)
    return folders


def hub_with_grant(
    path: Path, datasets: list[str], types: list[AnalysisType] | None = None
) -> tuple[sessionmaker[Session], str]:
    """A migrated demo hub where `researcher` holds an approved grant of `types` (model_validation) over `datasets`."""
    engine = make_engine(path)
    migrate(engine)
    ensure_hub_key(path)  # as `dari hub init` does: the hub's signing key for job tickets, beside the store
    factory = session_factory(engine)
    with factory() as s, s.begin():
        users = seed_consortium(s, "correct-horse-battery")
        publish_samples(s, users["admin"])
    today = dt.date.today()
    with factory() as s, s.begin():
        data = ApplicationCreate(
            title="external validation",
            purpose="Multicenter validation of the reference model.",
            irb_number="IRB-FL-1",
            dataset_ids=datasets,
            analysis_types=types or [AnalysisType.MODEL_VALIDATION],
            period_start=today,
            period_end=today + dt.timedelta(days=30),
            dua_accepted=True,
            submission_key="flower-test-1",
        )
        app_id = submit_application(s, get_user(s, "researcher"), data).id
    for reviewer in ("drb1", "drb2a", "drb2b", "drb3"):
        with factory() as s, s.begin():
            try:
                record_review(s, get_user(s, reviewer), app_id, ReviewCreate(decision=Decision.APPROVE))
            except Exception:  # a site not involved in the application may not vote
                s.rollback()
    with factory() as s:
        grant = s.execute(select(Grant).where(Grant.application_id == app_id)).scalar_one().id
    return factory, grant


def site(folder: Path, *, hub_db: Path | None = None, floor: DisclosureRules | None = None) -> SiteBinding:
    """The binding of a site folder (id = folder name), trusting the hub key of `hub_db` when given."""
    return SiteBinding(
        site_id=folder.name,
        folder=str(folder),
        floor=floor or DisclosureRules(),
        hub_public_key=None if hub_db is None else hub_public_pem(hub_db),
    )
