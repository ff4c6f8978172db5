"""The site's ε ledger per grant: the privacy loss each training job has spent, and the round that would exceed it.

The DRB sets an ε budget on a grant (`access_grant.epsilon_budget`, set at approval); the hub's grant decision
carries it to the site and the site guard's `Admission` keeps it. Before every training round the site asks
`charge_round`: the job's ε after this round (from `dari.training.dp`'s accountant: one job's rounds compose
tightly in RDP/PLD) plus what earlier jobs under the same grant spent (summed: basic composition across jobs,
conservative) must stay within the budget, or the round is refused — before any work, audited as
`job.round.refused`. A grant with a budget refuses a job without differential privacy outright (its ε is ∞).
An accepted round is written first (atomically, under a lock), then the work runs: a failed round still counts.

The ledger lives in the site's folder (`SITE/ledger/privacy_budget.json`), beside the release ledger; the hub
cannot reset it. Every spend is also a site audit entry (`privacy.spend`, with ε, δ, the grant's total, budget).
"""

from __future__ import annotations

import fcntl
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dari.atomic import atomic_path
from dari.disclosure import DisclosureRefusedError
from dari.errors import StoreError
from dari.federation.guard import Admission
from dari.federation.ledger import LEDGER_DIR
from dari.federation.site_audit import SiteAuditLog
from dari.training.dp import DpSettings, PrivacyRecord, privacy_record

BUDGET_FILE = "privacy_budget.json"
NO_GRANT = "(no grant)"  # synthetic sites without governance: accounted all the same


class PrivacyBudgetRefusedError(DisclosureRefusedError):
    """A training round would take the grant's privacy loss beyond the ε budget the DRB set."""


def budget_path(site_folder: str | Path) -> Path:
    """Where a site's ε ledger lives."""
    return Path(site_folder) / LEDGER_DIR / BUDGET_FILE


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """The ledger's content under an exclusive lock; written back atomically when the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: the privacy budget ledger is unreadable ({type(exc).__name__})") from None
        data.setdefault("grants", {})
        yield data
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def spent(site_folder: str | Path, grant_id: str | None) -> float:
    """ε spent so far under a grant at this site (all jobs, summed)."""
    path = budget_path(site_folder)
    if not path.exists():
        return 0.0
    jobs = json.loads(path.read_text(encoding="utf-8")).get("grants", {}).get(grant_id or NO_GRANT, {})
    return float(sum(j["epsilon"] for j in jobs.values()))


def charge_round(
    admission: Admission, settings: DpSettings | None, local_steps: int, rounds_after: int
) -> PrivacyRecord | None:
    """Record the job's privacy loss after its `rounds_after`-th round, or refuse the round (before any work)."""
    budget = admission.epsilon_budget
    if settings is None:
        if budget is not None:
            raise PrivacyBudgetRefusedError(
                f"grant {admission.grant_id} has an ε budget of {budget:g}: training without differential "
                "privacy is refused"
            )
        return None
    record = privacy_record(settings, rounds_after, local_steps)
    key = admission.grant_id or NO_GRANT
    with _locked(budget_path(admission.site_folder)) as data:
        jobs: dict[str, Any] = data["grants"].setdefault(key, {})
        others = sum(float(j["epsilon"]) for job, j in jobs.items() if job != admission.job_id)
        total = others + record.epsilon
        if budget is not None and (total > budget or not math.isfinite(total)):
            raise PrivacyBudgetRefusedError(
                f"round {rounds_after} would spend ε = {total:.3f} under grant {admission.grant_id} "
                f"(budget {budget:g}, {others:.3f} spent by earlier jobs)"
            )
        jobs[admission.job_id] = {"epsilon": record.epsilon, "delta": record.delta, "rounds": rounds_after}
    SiteAuditLog(Path(admission.site_folder)).record(
        "privacy.spend",
        "ok",
        **admission.audit_details(),
        epsilon=round(record.epsilon, 6),
        delta=record.delta,
        rounds=rounds_after,
        grant_total=round(total, 6),
        budget=budget,
        accountant=record.accountant,
    )
    return record
