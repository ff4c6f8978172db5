"""One monitoring run at the site: the service's log, outcomes linked from the CDM (or given), the windows.

What `dari monitor check` and `dari monitor publish` both do before they show or send anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from dari.care.inference_audit import audit_key_path, patient_hash, patient_key
from dari.cdm.store import open_store
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.monitoring.calls import LoggedCall, read_calls
from dari.monitoring.outcomes import (
    OutcomeLinkage,
    explicit_outcomes,
    link_cdm_outcomes,
    read_outcome_csv,
    read_patient_map,
)
from dari.monitoring.publication import Alert, MonitoringPolicy, MonitoringWindow
from dari.monitoring.reference import REFERENCE_FILE, Deployment, MonitoringReference, load_reference
from dari.monitoring.windows import monitor


@dataclass(frozen=True)
class MonitoringRun:
    """The calls of the deployed model, their outcomes where known, and the windows computed from them."""

    site_id: str
    policy: MonitoringPolicy
    reference: MonitoringReference
    calls: list[LoggedCall]
    windows: list[MonitoringWindow]
    linkage: OutcomeLinkage | None  # from the CDM, when a site folder was given
    explicit_outcomes: int  # outcomes given in a CSV that matched a scored call

    @property
    def alerts(self) -> list[Alert]:
        """Every alert of every window."""
        return [a for w in self.windows for a in w.alerts]


def run_monitoring(
    cds_db: Path,
    deployment: Deployment,
    *,
    reference: MonitoringReference | None = None,
    site: str | Path | None = None,
    outcomes_csv: Path | None = None,
    patient_map: Path | None = None,
    key_file: Path | None = None,
    policy: MonitoringPolicy | None = None,
    calls_per_window: int | None = None,
    as_of: date | None = None,
    since: datetime | None = None,
    rules: DisclosureRules | None = None,
) -> MonitoringRun:
    """Read, link and window the deployed model's calls (the reference from the deployment folder by default)."""
    ref = reference or load_reference(deployment.folder / REFERENCE_FILE)
    if ref.model_sha256 != deployment.model_sha256:
        raise InputError(
            f"the monitoring reference is of model {ref.model_sha256[:12]}…, the deployment's is "
            f"{deployment.model_sha256[:12]}…: rebuild it with `dari monitor reference`",
            file=str(deployment.folder / REFERENCE_FILE),
        )
    chosen = policy or deployment.policy()
    calls = read_calls(cds_db, model_sha256=deployment.model_sha256, since=since)
    outcomes: dict[int, bool] = {}
    linkage = None
    if site is not None:
        key = patient_key(key_file or audit_key_path(cds_db))
        store = open_store(site)
        try:
            linkage = link_cdm_outcomes(
                calls,
                store,
                deployment.spec,
                lambda pid: patient_hash(key, pid),
                as_of=as_of,
                fhir_ids=read_patient_map(patient_map) if patient_map is not None else None,
            )
        finally:
            store.close()
        outcomes.update(linkage.outcomes)
    given = explicit_outcomes(calls, read_outcome_csv(outcomes_csv)) if outcomes_csv is not None else {}
    outcomes.update(given)  # an outcome the site states explicitly wins over the CDM's
    windows = monitor(
        calls,
        spec=deployment.spec,
        reference=ref,
        policy=chosen,
        outcomes=outcomes,
        calls_per_window=calls_per_window,
        rules=rules,
    )
    return MonitoringRun(ref.site_id, chosen, ref, calls, windows, linkage, len(given))
