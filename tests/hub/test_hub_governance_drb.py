"""The DRB review a board can sign: the structured application (cohort, variables, IRB document, DUA, dates as
entered), conditions shown as conditions, and per-site revocation that `check_grant` honours."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest
from portal_helpers import login, make_app
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.cohort import load_definition
from dari.cohort.circe_export import export_circe
from dari.errors import InputError
from dari.hub.db.models import Application, AuditEntry, Grant
from dari.hub.governance.applications import (
    DUA_SHA256,
    DUA_VERSION,
    AnalysisType,
    ApplicationCreate,
    last_day,
    seoul_day,
    submit_application,
)
from dari.hub.governance.documents import MAX_DOCUMENT_BYTES, UploadedDocument, checked_pdf
from dari.hub.governance.errors import ConflictError, ForbiddenError
from dari.hub.governance.grants import (
    active_sites,
    application_conditions,
    application_state,
    check_grant,
    revoke_grant,
)
from dari.hub.governance.requested_data import describe_cohort, parse_cohort, variable_from_form
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import get_user

EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))
CKD = (EXAMPLES / "ckd_g3.json").read_text(encoding="utf-8")
TODAY = dt.date.today()
PDF = b"%PDF-1.4\n% IRB approval IRB-2026-0042\n%%EOF\n"


def _application(**overrides: object) -> ApplicationCreate:
    fields: dict[str, object] = {
        "title": "CKD progression model validation",
        "purpose": "Validate a 1-year CKD progression model across hospitals.",
        "irb_number": "IRB-2026-0042",
        "applicant_affiliation": "서울대학교 의과대학",
        "dataset_ids": ["site-1-cdm", "site-3-cdm"],
        "cohort_json": CKD,
        "variables": [
            {"table": "measurement", "concept_set": "egfr", "label": "eGFR (CKD-EPI 2021)"},
            {"table": "person", "label": "Person"},
        ],
        "analysis_types": [AnalysisType.MODEL_VALIDATION],
        "period_start": TODAY,
        "period_end": TODAY + dt.timedelta(days=30),
        "dua_accepted": True,
    }
    fields.update(overrides)
    return ApplicationCreate.model_validate(fields)


def _approved(factory: sessionmaker[Session], conditions: str = "") -> tuple[int, str]:
    """An application over site-1 and site-3, approved by both DRBs (site-1 with `conditions` if given)."""
    with factory() as s, s.begin():
        doc = UploadedDocument(field="irb_document", filename="../IRB 승인서.pdf", content=PDF)
        app_id = submit_application(s, get_user(s, "researcher"), _application(), doc).id
    with factory() as s, s.begin():
        vote = ReviewCreate(decision=Decision.APPROVE_WITH_CONDITIONS, comment=conditions) if conditions else None
        record_review(s, get_user(s, "drb1"), app_id, vote or ReviewCreate(decision=Decision.APPROVE))
        record_review(s, get_user(s, "drb3"), app_id, ReviewCreate(decision=Decision.APPROVE))
    with factory() as s:
        return app_id, s.execute(select(Grant.id).where(Grant.application_id == app_id)).scalar_one()


def test_application_stores_cohort_variables_document_dua_and_dates_as_entered(hub: sessionmaker[Session]) -> None:
    # Prepare / Execute
    app_id, _grant = _approved(hub)
    with hub() as s:
        a = s.get(Application, app_id)
        assert a is not None
        # Assert: the cohort as a dari definition, the variables as structured records
        assert a.cohort is not None and a.cohort["name"] == "Chronic kidney disease stage G3 by eGFR"
        assert a.variables[0] == {"table": "measurement", "concept_set": "egfr", "label": "eGFR (CKD-EPI 2021)"}
        assert a.applicant_affiliation == "서울대학교 의과대학"
        assert (a.dua_version, a.dua_sha256) == (DUA_VERSION, DUA_SHA256)
        (doc,) = a.documents
        assert doc.sha256 == hashlib.sha256(PDF).hexdigest() and doc.size == len(PDF)
        assert doc.filename == "IRB 승인서.pdf"  # the path part of the browser's name is dropped
        # Dates: exactly as entered, Korea's calendar; stored as UTC (00:00 KST = 15:00 UTC the day before)
        assert (seoul_day(a.period_start), last_day(a.period_end)) == (TODAY, TODAY + dt.timedelta(days=30))
        start = a.period_start if a.period_start.tzinfo else a.period_start.replace(tzinfo=dt.UTC)
        assert start.astimezone(dt.UTC).hour == 15
        submitted = s.execute(select(AuditEntry).where(AuditEntry.action == "application.submit")).scalar_one()
        assert submitted.detail["documents"] == [doc.sha256] and submitted.detail["dua"] == DUA_VERSION


def test_cohort_json_accepts_dari_and_atlas_and_names_the_problem() -> None:
    # ATLAS (Circe) JSON of a cohort imports to the same definition
    t2dm = load_definition(EXAMPLES / "t2dm_on_metformin.json")
    atlas = json.dumps(export_circe(t2dm))
    assert parse_cohort(atlas).digest() == t2dm.digest()
    variables = [{"table": "drug_exposure", "concept_set": "metformin", "label": "Metformin"}]
    assert _application(cohort_json=atlas, variables=variables).cohort() is not None
    with pytest.raises(ValidationError, match="cohort_json"):
        _application(cohort_json="{not json")
    with pytest.raises(ValidationError, match=r"cohort_json[\s\S]*index"):
        _application(cohort_json=json.dumps({**json.loads(CKD), "index": {"domain": "nope"}}))
    with pytest.raises(ValidationError, match="not one of the cohort's"):
        _application(variables=[{"table": "measurement", "concept_set": "hba1c", "label": "HbA1c"}])
    with pytest.raises(ValidationError, match="must not repeat"):
        _application(variables=[{"table": "person", "label": "a"}, {"table": "person", "label": "b"}])
    with pytest.raises(ValidationError, match="table"):
        _application(variables=[{"table": "note", "label": "free text notes"}])


def test_variables_from_form_tokens_and_cohort_in_words() -> None:
    cohort = parse_cohort(CKD)
    assert variable_from_form("measurement:egfr", cohort).label == "eGFR (CKD-EPI 2021)"
    assert variable_from_form("death", None).model_dump() == {"table": "death", "concept_set": None, "label": "Death"}
    builder = '{"table": "drug_exposure", "concept_set": null, "label": "Metformin"}'
    assert variable_from_form(builder, None).label == "Metformin"
    with pytest.raises(InputError, match="'note' is not a variable"):
        variable_from_form("note", None)
    ko, en = describe_cohort(cohort, "ko"), describe_cohort(cohort, "en")
    assert ko[0] == "기준 사건: 검사 결과의 'eGFR (CKD-EPI 2021)' 첫 기록 (18세 이상)."
    assert en[1] == "Inclusion rule 1: confirmatory eGFR 30-59 from 90 to 365 days after index."
    assert "LOINC 98979-8" in en[-1] and ko[-2] == "추적: 관찰 기간 종료까지."


def test_irb_document_must_be_a_pdf_within_the_limit() -> None:
    with pytest.raises(InputError, match="irb_document: must be a PDF"):
        checked_pdf(UploadedDocument("irb_document", "irb.pdf", b"GIF89a"))
    with pytest.raises(InputError, match="irb_document: at most 5 MiB"):
        checked_pdf(UploadedDocument("irb_document", "irb.pdf", b"%PDF-" + b"0" * MAX_DOCUMENT_BYTES))
    with pytest.raises(InputError, match="empty"):
        checked_pdf(UploadedDocument("irb_document", "irb.pdf", b""))
    assert checked_pdf(UploadedDocument("irb_document", "a<b>.exe", PDF)).filename == "a_b_.exe.pdf"


def test_conditional_approval_is_shown_as_such(hub: sessionmaker[Session]) -> None:
    app_id, _grant = _approved(hub, conditions="집계 결과만 반출 (aggregate results only)")
    with hub() as s:
        a = s.get(Application, app_id)
        assert a is not None
        assert application_state(s, a) == "approved_with_conditions"
        assert application_conditions(a) == ["site-1: 집계 결과만 반출 (aggregate results only)"]


def test_site_revokes_only_its_part_and_check_grant_honours_it(hub: sessionmaker[Session]) -> None:
    # Prepare
    app_id, grant_id = _approved(hub)
    with hub() as s, s.begin():
        # Execute: site-3's DRB revokes its part
        with pytest.raises(ConflictError, match="needs a reason"):
            revoke_grant(s, get_user(s, "drb3"), grant_id, "  ")
        with pytest.raises(ForbiddenError):
            revoke_grant(s, get_user(s, "drb2a"), grant_id, "not our site")
        grant = revoke_grant(s, get_user(s, "drb3"), grant_id, "protocol deviation at site-3")
        # Assert: site-3 refused, site-1 still allowed, the application reads 일부 철회
        assert active_sites(grant) == ["site-1"] and grant.revoked_at is None
        refused = check_grant(s, "researcher", "site-3-cdm", "model_validation")
        assert not refused.allowed and "revoked for site-3" in refused.reason
        assert check_grant(s, "researcher", "site-1-cdm", "model_validation").allowed
        a = s.get(Application, app_id)
        assert a is not None and application_state(s, a) == "partially_revoked"
        with pytest.raises(ConflictError, match="revoked already for site-3"):
            revoke_grant(s, get_user(s, "drb3"), grant_id, "again")
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "grant.revoke")).scalar_one()
        assert entry.detail == {"sites": ["site-3"], "remaining_sites": ["site-1"], "reason": entry.detail["reason"]}
        # site-1 revokes too: nothing is left, the grant is revoked as a whole
        revoke_grant(s, get_user(s, "drb1"), grant_id, "site-1 withdraws as well")
        assert application_state(s, a) == "revoked" and grant.revoked_at is not None
        assert not check_grant(s, "researcher", "site-1-cdm", "model_validation", record=False).allowed


def test_expiry_shows_on_the_application(hub: sessionmaker[Session]) -> None:
    app_id, _grant = _approved(hub)
    with hub() as s:
        a = s.get(Application, app_id)
        assert a is not None
        assert application_state(s, a, dt.datetime.now(dt.UTC) + dt.timedelta(days=40)) == "expired"
        assert application_state(s, a) == "approved"


def test_portal_apply_prefill_confirmation_steps_and_document_access(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare
    app = make_app(hub_url)
    app_id, grant_id = _approved(hub)
    researcher, csrf = login(app, "researcher")
    # Execute / Assert: the cohort builder's POST /apply fills the form with the cohort and its variables
    form = researcher.post("/apply", data={"csrf_token": csrf, "cohort_json": CKD, "variables": ["measurement:egfr"]})
    assert form.status_code == 200
    assert 'value="measurement:egfr" checked' in form.text and "18세 이상" in form.text
    bad = researcher.post("/apply", data={"csrf_token": csrf, "cohort_json": "[1]"})
    assert bad.status_code == 200 and 'id="cohort-error"' in bad.text
    # The IRB document: the applicant and an involved site's DRB may download it, another site's DRB may not
    with hub() as s:
        doc_id = s.get(Application, app_id).documents[0].id  # type: ignore[union-attr]
    url = f"/applications/{app_id}/documents/{doc_id}"
    assert researcher.get(url).content == PDF
    drb1, drb1_csrf = login(app, "drb1")
    got = drb1.get(url)
    assert got.content == PDF and got.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    assert login(app, "drb2a")[0].get(url).status_code == 403
    # Revocation: step 1 only shows what would happen; nothing changes until confirmed
    step1 = drb1.post(f"/grants/{grant_id}/revoke", data={"csrf_token": drb1_csrf, "reason": "audit finding"})
    assert step1.status_code == 200 and 'name="confirmed" value="yes"' in step1.text
    assert '<td data-key="remaining_sites">site-3</td>' in step1.text
    with hub() as s:
        assert active_sites(s.get(Grant, grant_id)) == ["site-1", "site-3"]  # type: ignore[arg-type]
    data = {"csrf_token": drb1_csrf, "reason": "audit finding", "confirmed": "yes"}
    assert drb1.post(f"/grants/{grant_id}/revoke", data=data).status_code == 303
    with hub() as s:
        assert active_sites(s.get(Grant, grant_id)) == ["site-3"]  # type: ignore[arg-type]
    page = researcher.get(f"/applications/{app_id}")
    assert 'id="application-status">일부 철회<' in page.text and "audit finding" in page.text
