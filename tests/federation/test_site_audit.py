"""The site's own audit file: chained appends, and an edited, removed or reordered line is found."""

from __future__ import annotations

import json
from pathlib import Path

from dari.federation.site_audit import SiteAuditLog, verify_site_audit


def _three(tmp_path: Path) -> SiteAuditLog:
    log = SiteAuditLog(tmp_path)
    for i in range(3):
        log.record("job.validate", "refused", job_id=f"job-{i}", reason="no grant")
    return log


def test_site_audit_intact_chain_verifies(tmp_path: Path) -> None:
    log = _three(tmp_path)
    assert [e["seq"] for e in log.entries()] == [1, 2, 3]
    assert verify_site_audit(log) is None


def test_site_audit_edited_line_found(tmp_path: Path) -> None:
    log = _three(tmp_path)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[1])
    edited["outcome"] = "ok"
    lines[1] = json.dumps(edited)
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert verify_site_audit(log) == 2


def test_site_audit_removed_line_found(tmp_path: Path) -> None:
    log = _three(tmp_path)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")
    assert verify_site_audit(log) == 3
