"""The deployment gate: no deployment without a site-approved validation report; withdrawal is immediate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dari.cli.app import app
from dari.hub.db.models import AuditEntry
from dari.hub.governance.deployment import (
    approve_deployment,
    deployment_allowed,
    record_deployment,
    register_model,
    submit_report,
    withdraw_deployment,
)
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.users import get_user
from dari.hub.keys import ensure_hub_key
from dari.models import sha256_file
from dari.models.reference import reference_model_paths

RESULTS = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.79}}


def _registered_report(factory: sessionmaker[Session]) -> tuple[str, str]:
    sha = sha256_file(reference_model_paths().model)
    with factory() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, {"name": "CKD progression", "version": "1.0"})
        return sha, submit_report(s, get_user(s, "vendor"), sha, RESULTS).id


def test_deployment_needs_site_approval_and_withdrawal_is_immediate(hub: sessionmaker[Session]) -> None:
    sha, report = _registered_report(hub)
    with hub() as s, s.begin():
        assert not record_deployment(s, "steward1", sha, "site-1").allowed
        with pytest.raises(ForbiddenError, match="may not approve"):
            approve_deployment(s, get_user(s, "drb1"), report)
    with hub() as s, s.begin():
        approve_deployment(s, get_user(s, "approver1"), report)
    with hub() as s, s.begin():
        decision = record_deployment(s, "steward1", sha, "site-1")
        assert decision.allowed and decision.report_id == report and decision.approver == "approver1"
        assert not deployment_allowed(s, sha, "site-2").allowed  # approved at site-1 only
        withdraw_deployment(s, get_user(s, "approver1"), report, "site-1", "calibration drift")
        assert deployment_allowed(s, sha, "site-1").reason == "approval withdrawn"
    with hub() as s:
        outcomes = [
            (e.outcome, e.detail["report"])
            for e in s.execute(select(AuditEntry).where(AuditEntry.action == "deployment.deploy")).scalars()
        ]
    assert outcomes == [("deny", None), ("allow", report)]


def test_report_must_cover_the_approvers_site(hub: sessionmaker[Session]) -> None:
    sha = sha256_file(reference_model_paths().model)
    with hub() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, {"name": "m"})
        report = submit_report(s, get_user(s, "vendor"), sha, {"sites_covered": ["site-3"], "pooled": {}}).id
    with hub() as s, s.begin(), pytest.raises(ForbiddenError, match="no validation at site-1"):
        approve_deployment(s, get_user(s, "approver1"), report)


def test_cli_deploy_refused_then_allowed(hub_url: str, hub: sessionmaker[Session], tmp_path: Path) -> None:
    if hub_url.startswith("postgresql"):
        pytest.skip("the CLI path is the same code; the services above run on both stores")
    ensure_hub_key(hub_url)  # this process is the store's owner: it may act for the named users
    runner = CliRunner()
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS), encoding="utf-8")
    db = ["--db", hub_url]
    assert runner.invoke(app, ["hub", "model", "register", "reference", "--by", "vendor", *db]).exit_code == 0
    submitted = runner.invoke(
        app, ["hub", "report", "submit", str(results), "--model", "reference", "--by", "vendor", *db]
    )
    report = submitted.stdout.strip()
    target = tmp_path / "deployed"
    deploy = ["deploy", "reference", "--site", "site-1", "--by", "steward1", "--out", str(target), *db]
    refused = runner.invoke(app, deploy)
    assert refused.exit_code == 5 and "refused" in refused.output and not target.exists()
    assert runner.invoke(app, ["hub", "deployment", "approve", report, "--by", "approver1", *db]).exit_code == 0
    done = runner.invoke(app, deploy)
    assert done.exit_code == 0, done.output
    manifest = json.loads((target / "deployment.json").read_text())
    assert manifest["report_id"] == report and manifest["model_sha256"] == sha256_file(target / "model.onnx")
