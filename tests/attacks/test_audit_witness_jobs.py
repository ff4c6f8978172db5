"""The hub hands its signed audit head to every site with each job; the sites' copies catch a rewritten log.

Attack: an insider at the hub deletes the audit entries of a job's tickets and grant checks, recomputes every hash
and the head, so the plain chain verifies. Before: nothing outside the hub's database held the head. Now: every
site that ran a job keeps the checkpoint the job carried, and `verify` against those witnesses finds the rewrite;
a hub that later shows a site a forked history gets no job run there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flower_fixtures import MIN_CELL, build_sites, hub_with_grant
from flwr.app import Context, RecordDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubStoreGrantChecker
from dari.federation.flower.simulation import build_job, with_tickets
from dari.federation.flower.site_app import answer_job
from dari.federation.guard import SiteBinding
from dari.federation.witness import WitnessStore
from dari.hub import audit
from dari.hub.audit_checkpoint import witnessed_heads
from dari.hub.db.models import AuditHead
from dari.hub.keys import hub_key_paths
from dari.models.reference import reference_model_paths
from dari.signing import SignedEnvelope, sign_claims

RULES = DisclosureRules(min_cell=MIN_CELL)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, sessionmaker[Session]]:
    """site-1 (synthetic) and a hub where `researcher` holds a validation grant over site-1-cdm."""
    folder = build_sites(tmp_path_factory.mktemp("witness-net"), n=1)[0]
    hub_db = tmp_path_factory.mktemp("witness-hub") / "hub.db"
    factory, _ = hub_with_grant(hub_db, ["site-1-cdm"])
    return folder, hub_db, factory


def _run_job(
    folder: Path, hub_db: Path, factory: sessionmaker[Session], checkpoint: SignedEnvelope | None = None
) -> str:
    ref = reference_model_paths()
    job, model = build_job([folder], ref.model, ref.spec, requester="researcher", threshold=0.2, rules=RULES)
    job = with_tickets(job, hub_db, "model_validation", job.model_sha256)
    if checkpoint is not None:  # what a hub showing this site another history would send
        job = job.model_copy(update={"audit_checkpoint": checkpoint})
    keys = hub_key_paths(hub_db)
    site = SiteBinding(
        site_id="site-1", folder=str(folder), floor=RULES, hub_public_key=keys.public.read_text(encoding="utf-8")
    )
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    report = answer_job(context, site, HubStoreGrantChecker(factory), job, model)
    return f"{report.status}: {report.reason}"


def test_job_carries_the_hub_head_and_the_site_keeps_it(network: tuple[Path, Path, sessionmaker[Session]]) -> None:
    folder, hub_db, factory = network
    assert _run_job(folder, hub_db, factory).startswith("ok")
    keys = hub_key_paths(hub_db)
    kept = WitnessStore(folder).checkpoints(keys.public_key())
    with factory() as s:
        head = s.execute(select(AuditHead)).scalar_one()
    assert kept and kept[-1].seq <= head.seq  # the checkpoint covers the job's tickets; the site's check came after
    with factory() as s:
        assert audit.verify(s, witnessed_heads([folder / "audit"], keys.public_key())).ok


def test_attack_rewritten_log_found_by_the_sites_witness(
    network: tuple[Path, Path, sessionmaker[Session]],
) -> None:
    folder, hub_db, factory = network
    assert _run_job(folder, hub_db, factory).startswith("ok")
    keys = hub_key_paths(hub_db)
    from test_audit_witness import _rewrite

    _rewrite(factory, lambda rows: [r for r in rows if r["action"] != "job.ticket"])  # the tickets never happened
    with factory() as s:
        assert audit.verify(s).ok  # the chain alone cannot tell: this was the leak
        result = audit.verify(s, witnessed_heads([folder / "audit"], keys.public_key()))
    assert not result.ok


def test_attack_forked_history_shown_to_a_site_gets_no_job_run(
    network: tuple[Path, Path, sessionmaker[Session]],
) -> None:
    folder, hub_db, factory = network
    keys = hub_key_paths(hub_db)
    seen = WitnessStore(folder).checkpoints(keys.public_key())[-1]
    # The hub (holding its key) signs a second head for a sequence number this site has already witnessed.
    fork = sign_claims({**seen.model_dump(mode="json"), "head": "f" * 64}, keys.private_key())
    outcome = _run_job(folder, hub_db, factory, checkpoint=fork)
    assert outcome.startswith("refused") and "contradicts a checkpoint" in outcome
