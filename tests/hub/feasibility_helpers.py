"""Shared builders of the feasibility tests: two small synthetic sites and a hub whose researcher may count site-1."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dari.etl.pipeline import run_etl
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import get_user
from dari.hub.keys import ensure_hub_key
from dari.hub.seed import publish_samples, seed_consortium
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

PASSWORD = "correct-horse-battery"
PATIENTS = 400


def build_sites(root: Path) -> dict[str, Path]:
    """site-1 and site-2 of a synthetic network (CDM built, synth marker present), 400 patients each."""
    sites = {}
    for profile in network_profiles(2):
        folder = root / profile.site_id
        generate_site(profile, folder, PATIENTS, seed=23)
        run_etl(folder)
        sites[profile.site_id] = folder
    return sites


def build_hub(path: Path) -> sessionmaker[Session]:
    """A migrated hub with its signing key where `researcher` holds a `feasibility` grant over site-1-cdm only."""
    engine = make_engine(path)
    migrate(engine)
    ensure_hub_key(path)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        users = seed_consortium(s, PASSWORD)
        publish_samples(s, users["admin"])
    today = dt.date.today()
    with factory() as s, s.begin():
        data = ApplicationCreate(
            title="feasibility of a CKD study",
            purpose="How many patients with CKD stage G3 could be recruited?",
            irb_number="IRB-FEAS-1",
            dataset_ids=["site-1-cdm"],
            analysis_types=[AnalysisType.FEASIBILITY],
            period_start=today,
            period_end=today + dt.timedelta(days=30),
            dua_accepted=True,
            submission_key="feasibility-test-1",
        )
        app_id = submit_application(s, get_user(s, "researcher"), data).id
    with factory() as s, s.begin():
        record_review(s, get_user(s, "drb1"), app_id, ReviewCreate(decision=Decision.APPROVE))
    return factory
