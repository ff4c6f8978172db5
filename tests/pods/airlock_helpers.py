"""Builders of the airlock tests: a hub with a research-pod grant and two output checkers per site, a real synthetic
site, the hub served by uvicorn on loopback (the site talks to it over HTTP like a hospital's node), and bundles."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.db.models import Grant
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.requested_data import RequestedVariable
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import add_user, get_user, issue_api_token
from dari.hub.keys import ensure_hub_key
from dari.hub.seed import publish_samples, seed_consortium

PASSWORD = "correct-horse-battery"
CHECKERS = {"checker1": "site-1", "checker2": "site-1", "checker3": "site-2"}


def build_pod_hub(path: Path) -> tuple[sessionmaker[Session], dict[str, str]]:
    """A migrated hub with its key; `researcher` holds a research-pod grant over site-1 (person, measurement) and
    `vendor` a feasibility-only one; returns the factory and the grant ids ('pod', 'feasibility')."""
    from argon2 import PasswordHasher, profiles

    import dari.hub.governance.users as users_module

    users_module._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    engine = make_engine(path)
    migrate(engine)
    ensure_hub_key(path)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        users = seed_consortium(s, PASSWORD)
        publish_samples(s, users["admin"])
        for name, site in CHECKERS.items():
            add_user(s, username=name, password=PASSWORD, role="output_checker", site_id=site, display_name=name)
    today = dt.date.today()
    grants = {}
    for key, who, types in (
        ("pod", "researcher", [AnalysisType.RESEARCH_POD]),
        ("feasibility", "vendor", [AnalysisType.FEASIBILITY]),
    ):
        with factory() as s, s.begin():
            data = ApplicationCreate(
                title=f"airlock test {key}",
                purpose="eGFR by age band, written against dummy data, run in a pod at site-1.",
                irb_number="IRB-POD-1",
                dataset_ids=["site-1-cdm"],
                variables=[
                    RequestedVariable(table="person", label="sex, year of birth"),
                    RequestedVariable(table="measurement", label="laboratory results"),
                ],
                analysis_types=types,
                period_start=today,
                period_end=today + dt.timedelta(days=30),
                dua_accepted=True,
                submission_key=f"airlock-{key}",
            )
            app_id = submit_application(s, get_user(s, who), data).id
        with factory() as s, s.begin():
            record_review(s, get_user(s, "drb1"), app_id, ReviewCreate(decision=Decision.APPROVE))
        with factory() as s:
            grants[key] = s.execute(select(Grant.id).where(Grant.application_id == app_id)).scalar_one()
    return factory, grants


def tokens(factory: sessionmaker[Session], *names: str) -> dict[str, str]:
    """API tokens of the named users."""
    with factory() as s, s.begin():
        return {n: issue_api_token(s, get_user(s, n)) for n in names}


def build_site(root: Path, patients: int = 150) -> Path:
    """site-1 of a synthetic network with its CDM built (a real site folder, as `dari synth` + ETL make it)."""
    from dari.etl.pipeline import run_etl
    from dari.synth.network import generate_site
    from dari.synth.sites import network_profiles

    profile = network_profiles(2)[0]
    folder = root / profile.site_id
    generate_site(profile, folder, patients, seed=29)
    run_etl(folder)
    return folder


def serve_hub(hub_url: str) -> Iterator[str]:
    """The hub app served by uvicorn on a free loopback port (plain HTTP, cookies without Secure)."""
    import socket

    import uvicorn

    from dari.hub.settings import HubSettings
    from dari.hub.web.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_app(HubSettings(database=hub_url, secure_cookies=False))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


#: A well-behaved analysis: an aggregate table, a chart, a short report (all should pass the checks).
GOOD_MAIN = '''
import duckdb, pathlib
out = pathlib.Path("/pod/outputs")
con = duckdb.connect()
rows = con.execute("""
    SELECT CASE WHEN gender_concept_id = '8532' THEN 'F' ELSE 'M' END AS sex, count(*) AS n_persons
    FROM '/pod/data/person.parquet' GROUP BY 1 ORDER BY 1""").fetchall()
with open(out / "persons_by_sex.csv", "w") as fh:
    fh.write("sex,n_persons\\n")
    for sex, n in rows:
        fh.write(f"{sex},{max(10, 5 * round(n / 5))}\\n")
(out / "summary.md").write_text("# eGFR pod\\n\\nPersons counted by sex, rounded to 5.\\n")
'''
#: Smuggles rows out: the person table as CSV (row-level, identifier column) beside a clean file.
LEAKY_MAIN = """
import duckdb, pathlib
out = pathlib.Path("/pod/outputs")
duckdb.sql("COPY (SELECT person_id, year_of_birth FROM '/pod/data/person.parquet') TO '/pod/outputs/rows.csv'")
(out / "note.txt").write_text("done\\n")
"""


def bundle_zip(main: str, name: str = "egfr-pod") -> bytes:
    """A bundle (.zip) with pod.toml and main.py reading the person table."""
    toml = f'[pod]\nname = "{name}"\nentry = "main.py"\n\n[needs]\ntables = ["person"]\npackages = ["duckdb"]\n'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("pod.toml", toml)
        archive.writestr("main.py", main)
    return out.getvalue()
