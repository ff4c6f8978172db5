"""Joint DRB review, grants and the grant check, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.audit import verify
from dari.hub.db.models import Application, AuditEntry, Grant
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.grants import check_grant, revoke_grant
from dari.hub.governance.review import Decision, ReviewCreate, record_review, review_queue
from dari.hub.governance.users import get_user

TODAY = dt.date.today()


def _application(**overrides: object) -> ApplicationCreate:
    fields: dict[str, object] = {
        "title": "CKD progression model validation",
        "purpose": "Validate a 1-year CKD progression model across hospitals.",
        "irb_number": "IRB-2026-0042",
        "dataset_ids": ["site-1-cdm", "site-2-cdm"],
        "variables": [{"table": "measurement", "label": "eGFR, HbA1c"}],
        "analysis_types": [AnalysisType.MODEL_VALIDATION, AnalysisType.FEASIBILITY],
        "period_start": TODAY,
        "period_end": TODAY + dt.timedelta(days=180),
        "dua_accepted": True,
    }
    fields.update(overrides)
    return ApplicationCreate.model_validate(fields)


def _submit(factory: sessionmaker[Session], **overrides: object) -> int:
    with factory() as s, s.begin():
        return submit_application(s, get_user(s, "researcher"), _application(**overrides)).id


def _vote(factory: sessionmaker[Session], who: str, app_id: int, decision: Decision, comment: str = "") -> str:
    with factory() as s, s.begin():
        return record_review(s, get_user(s, who), app_id, ReviewCreate(decision=decision, comment=comment)).status


def test_grant_issued_only_when_every_site_reaches_quorum(hub: sessionmaker[Session]) -> None:
    # Prepare: site-1 needs one vote, site-2 two
    app_id = _submit(hub)
    # Execute / Assert
    assert _vote(hub, "drb1", app_id, Decision.APPROVE) == "under_review"
    assert _vote(hub, "drb2a", app_id, Decision.APPROVE_WITH_CONDITIONS, "aggregate results only") == "under_review"
    with hub() as s:
        assert s.execute(select(Grant)).first() is None
        assert check_grant(s, "researcher", "site-1-cdm", "model_validation", record=False).allowed is False
    assert _vote(hub, "drb2b", app_id, Decision.APPROVE) == "approved"
    with hub() as s:
        grant = s.execute(select(Grant)).scalar_one()
        assert grant.dataset_ids == ["site-1-cdm", "site-2-cdm"]
        assert grant.conditions == ["aggregate results only"]
        assert check_grant(s, "researcher", "site-2-cdm", "model_validation", record=False).allowed
        # Scope: not another dataset, analysis type or person
        assert not check_grant(s, "researcher", "site-3-cdm", "model_validation", record=False).allowed
        assert not check_grant(s, "researcher", "site-1-cdm", "federated_training", record=False).allowed
        assert not check_grant(s, "vendor", "site-1-cdm", "model_validation", record=False).allowed


def test_one_rejection_rejects_the_application(hub: sessionmaker[Session]) -> None:
    app_id = _submit(hub)
    _vote(hub, "drb1", app_id, Decision.APPROVE)
    assert _vote(hub, "drb2a", app_id, Decision.REJECT, "purpose too broad") == "rejected"
    with pytest.raises(ConflictError, match="takes no more votes"):
        _vote(hub, "drb2b", app_id, Decision.APPROVE)
    with hub() as s:
        assert s.execute(select(Grant)).first() is None


def test_grant_expires_and_revocation_is_immediate(hub: sessionmaker[Session]) -> None:
    app_id = _submit(hub, dataset_ids=["site-1-cdm"], period_end=TODAY + dt.timedelta(days=30))
    _vote(hub, "drb1", app_id, Decision.APPROVE)
    with hub() as s, s.begin():
        grant = s.execute(select(Grant)).scalar_one()
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
        assert check_grant(s, "researcher", "site-1-cdm", "feasibility").allowed
        assert "expired" in check_grant(s, "researcher", "site-1-cdm", "feasibility", later).reason
        with pytest.raises(ForbiddenError):
            revoke_grant(s, get_user(s, "drb3"), grant.id, "not our site")
        revoke_grant(s, get_user(s, "drb1"), grant.id, "protocol deviation")
        decision = check_grant(s, "researcher", "site-1-cdm", "feasibility")
        assert not decision.allowed and "revoked" in decision.reason


def test_reviewer_must_belong_to_an_involved_site_and_vote_once(hub: sessionmaker[Session]) -> None:
    app_id = _submit(hub, dataset_ids=["site-1-cdm"])
    with pytest.raises(ForbiddenError, match="does not request data"):
        _vote(hub, "drb3", app_id, Decision.APPROVE)
    with pytest.raises(ForbiddenError, match="may not review"):
        _vote(hub, "researcher", app_id, Decision.APPROVE)
    with pytest.raises(ConflictError, match="needs a comment"):
        _vote(hub, "drb1", app_id, Decision.REJECT)
    with hub() as s:
        assert [a.id for a in review_queue(s, get_user(s, "drb1"))] == [app_id]
        assert review_queue(s, get_user(s, "drb3")) == []


def test_submission_refused_for_bad_input_and_nothing_saved(hub: sessionmaker[Session]) -> None:
    with pytest.raises(NotFoundError, match="unknown dataset 'nope'"):
        _submit(hub, dataset_ids=["nope"])
    with pytest.raises(ValidationError, match="dua_accepted"):
        _application(dua_accepted=False)
    with pytest.raises(ValidationError, match="period_end"):
        _application(period_end=TODAY)
    with pytest.raises(ValidationError):
        _application(title="x" * 301)
    with pytest.raises(ValidationError, match="Extra inputs"):
        ApplicationCreate.model_validate({**_application().model_dump(), "grant_now": True})
    with hub() as s, pytest.raises(ForbiddenError):
        submit_application(s, get_user(s, "clinician"), _application())
    _submit(hub, submission_key="same-key-123")
    with pytest.raises(ConflictError, match="duplicate"):
        _submit(hub, submission_key="same-key-123")
    with hub() as s:
        assert len(s.execute(select(Application)).all()) == 1


def test_governance_actions_are_audited_and_the_chain_verifies(hub: sessionmaker[Session]) -> None:
    app_id = _submit(hub, dataset_ids=["site-3-cdm"])
    _vote(hub, "drb3", app_id, Decision.APPROVE)
    with hub() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
        assert actions[-4:] == ["application.submit", "drb.review", "application.approved", "grant.issue"]
        result = verify(s)
        assert result.ok and result.entries == len(actions)
