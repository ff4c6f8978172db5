"""The one site guard every job type passes: validation, its calibration rounds, feasibility, Table 1, training.

`SiteGuard.run(claim, requested, work)` is the only way a job reaches a site's data, in this order:

1. **bind to this site** — the site's own id and dataset id (node config `site-id`, `dataset-id`, default
   `<site-id>-cdm`), never the dataset a job names: a job that maps this site to another site's dataset is refused;
2. **the hub's ticket** — a `dari.federation.ticket.JobTicket` signed by the hub key the site trusts (node config
   `hub-public-key`), whose claims match this job id, site, dataset, analysis type, requester, model hash and
   parameters' hash, and is not expired (only `--no-governance` on synthetic folders runs without one);
3. **once, and the grant, now** — a job id this site admitted before (`dari.federation.admissions`: a marker
   claimed atomically, so two concurrent copies of one job cannot both run) is refused (a replay would restart
   its rounds); then the grant checker (revocation), on the site's own dataset, must say yes with
   the ticket's grant id (and the job's expected grant, when it names one);
4. **the site's rules** — `site_rules(requested, floor)`, and a round limit `min(ticket, max-rounds)`;
5. **the work**, given the `Admission`; a disclosure refusal is `refused`, any error `failed` with a short reason
   (the traceback goes to the site's own log, `logging.getLogger("dari.site")`, never to the hub);
6. **the site's audit** — every admission, refusal, result and failure in `SiteAuditLog(site_folder)`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRefusedError, DisclosureRules, site_rules
from dari.errors import DariError
from dari.federation.admissions import AdmittedJobs
from dari.federation.flower.grants import GrantChecker, SyntheticOnlyGrantChecker
from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import JobTicket, TicketError, check_ticket, read_ticket
from dari.signing import SignatureError, SignedEnvelope, parse_public_key

if TYPE_CHECKING:  # the ledger (SQLite, numpy) loads only when a job opens it
    from dari.federation.ledger import ReleaseLedger

T = TypeVar("T")
Outcome = Literal["ok", "refused", "failed"]
#: Rounds (messages) a site answers per job unless its node config `max-rounds` says otherwise.
DEFAULT_MAX_ROUNDS = 20
log = logging.getLogger("dari.site")


class SiteBinding(BaseModel):
    """Which site a (virtual) node is, and what it trusts: read from its node config, never from a job."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    site_id: str = Field(min_length=1)
    folder: str
    dataset_id: str = Field(default="", description="the site's own dataset id; default `<site-id>-cdm`")
    # The site's own disclosure floor: a job's rules never go below it (node config `min-cell`, `rounding-base`).
    floor: DisclosureRules = DisclosureRules()
    hub_public_key: str | None = Field(default=None, description="PEM of the hub key whose tickets this site trusts")
    max_rounds: int = Field(default=DEFAULT_MAX_ROUNDS, ge=1, le=1000)

    @model_validator(mode="after")
    def _default_dataset(self) -> SiteBinding:
        if not self.dataset_id:
            object.__setattr__(self, "dataset_id", f"{self.site_id}-cdm")
        return self

    def trusted_key(self) -> Ed25519PublicKey | None:
        """The hub's public key, parsed (None when the site trusts no hub)."""
        if self.hub_public_key is None:
            return None
        return parse_public_key(self.hub_public_key.encode("ascii"), source="hub-public-key")


@dataclass(frozen=True)
class JobClaim:
    """What a job says about itself at a site: checked by the guard, never trusted on its own."""

    job_id: str
    requester: str
    analysis_type: str
    datasets: Mapping[str, str]
    model_sha256: str | None
    params_sha256: str
    tickets: Mapping[str, SignedEnvelope] = field(default_factory=dict)
    expected_grants: Mapping[str, str] = field(default_factory=dict)
    audit_checkpoint: SignedEnvelope | None = None


class Admission(BaseModel):
    """A job admitted at this site: who, under which grant, on which dataset, under the site-enforced rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str
    site_id: str
    dataset_id: str
    site_folder: str
    analysis_type: str
    requester: str
    grant_id: str | None
    rules: DisclosureRules = Field(description="site-enforced: max(requested, the site's floor)")
    max_rounds: int
    expires_at: dt.datetime | None = None
    epsilon_budget: float | None = Field(default=None, description="the grant's ε budget (dari.federation.dp_budget)")

    def open_ledger(self) -> ReleaseLedger:
        """The one place a job's release ledger opens (`SITE/ledger/`), under this admission's grant and rules."""
        from dari.federation.ledger import open_site_ledger

        return open_site_ledger(
            Path(self.site_folder), grant_id=self.grant_id, requester=self.requester, rules=self.rules
        )

    def audit_details(self) -> dict[str, object]:
        """The fields every site audit entry of this job carries (no row-level data, no identifiers)."""
        return {
            "job": self.job_id,
            "grant": self.grant_id,
            "requester": self.requester,
            "dataset": self.dataset_id,
            "analysis_type": self.analysis_type,
        }


class GuardRefusedError(DariError):
    """The guard's 'no': the reason is short and safe to send to the hub."""


@dataclass(frozen=True)
class GuardOutcome(Generic[T]):
    """What the guard gives a job type to turn into its report."""

    status: Outcome
    reason: str
    dataset_id: str | None
    admission: Admission | None = None
    result: T | None = None

    @property
    def grant_id(self) -> str | None:
        """The grant the job ran under (None when it was not admitted)."""
        return self.admission.grant_id if self.admission else None


class SiteGuard:
    """The guard of one site (its binding) with its grant checker."""

    def __init__(self, site: SiteBinding, checker: GrantChecker | None, *, now: dt.datetime | None = None) -> None:
        # `checker` None: a guard that only runs rounds of jobs it admitted before (no new admission).
        self.site, self.checker, self._now = site, checker, now
        self.audit_log = SiteAuditLog(Path(site.folder))
        self.admitted = AdmittedJobs(Path(site.folder))

    def admit(self, claim: JobClaim, requested: DisclosureRules) -> Admission:
        """Steps 1–4: the admission, or `GuardRefusedError` with the reason."""
        site = self.site
        named = claim.datasets.get(site.site_id)
        if named is None:
            raise GuardRefusedError(f"{site.site_id} is not part of job {claim.job_id}")
        if named != site.dataset_id:
            raise GuardRefusedError(f"the job names dataset {named} for {site.site_id}, which holds {site.dataset_id}")
        if self.checker is None:
            raise GuardRefusedError("this site has no grant checker configured: every job is refused")
        ticket = None
        if not isinstance(self.checker, SyntheticOnlyGrantChecker):  # no governance: synthetic folders only
            ticket = self._ticket(claim)
            self._witness(claim)
        if self._admitted_before(claim.job_id):  # a replayed job would restart its round count and release again
            raise GuardRefusedError(f"job {claim.job_id} was admitted here before: a job runs once per site")
        try:
            decision = self.checker.check(claim.requester, site.dataset_id, claim.analysis_type)
        except Exception as exc:  # a broken checker must read as 'no', never as 'yes'
            log.exception("grant check failed for job %s", claim.job_id)
            raise GuardRefusedError(f"grant check failed: {type(exc).__name__}") from None
        if not decision.allowed:
            raise GuardRefusedError(f"no grant: {decision.reason}")
        if ticket is not None and decision.grant_id != ticket.grant_id:
            why = f"the ticket's grant {ticket.grant_id} is not the hub's grant {decision.grant_id} now"
            raise GuardRefusedError(why)
        expected = claim.expected_grants.get(site.dataset_id)
        if expected is not None and decision.grant_id != expected:
            raise GuardRefusedError(f"grant {expected} named by the job does not cover it (hub: {decision.grant_id})")
        return Admission(
            job_id=claim.job_id,
            site_id=site.site_id,
            dataset_id=site.dataset_id,
            site_folder=site.folder,
            analysis_type=claim.analysis_type,
            requester=claim.requester,
            grant_id=decision.grant_id,
            rules=site_rules(requested, site.floor),
            max_rounds=min(site.max_rounds, ticket.max_rounds) if ticket else site.max_rounds,
            expires_at=ticket.expires_at if ticket else None,
            epsilon_budget=decision.epsilon_budget,
        )

    def _admitted_before(self, job_id: str) -> bool:
        """Whether this site admitted the job on its dataset before (one marker lookup, not an audit scan)."""
        return self.admitted.seen(job_id, self.site.dataset_id)

    def _witness(self, claim: JobClaim) -> None:
        """Keep the hub's signed audit head the job carries: this site becomes a witness of the hub's log."""
        from dari.federation.witness import WitnessStore
        from dari.hub.audit_checkpoint import WitnessConflictError

        trusted = self.site.trusted_key()
        if claim.audit_checkpoint is None or trusted is None:
            return
        try:
            WitnessStore(Path(self.site.folder)).keep(claim.audit_checkpoint, trusted)
        except SignatureError:
            raise GuardRefusedError("the job's audit checkpoint is not signed by the hub this site trusts") from None
        except WitnessConflictError:
            # The hub's log was forked or rolled back behind a head this site saw: run nothing for it.
            raise GuardRefusedError("the hub's audit log contradicts a checkpoint this site holds") from None

    def _ticket(self, claim: JobClaim) -> JobTicket:
        site = self.site
        trusted = site.trusted_key()
        if trusted is None:
            raise GuardRefusedError("this site trusts no hub key (node config hub-public-key): every job is refused")
        envelope = claim.tickets.get(site.site_id)
        if envelope is None:
            raise GuardRefusedError(f"no grant: the job carries no hub ticket for {site.site_id}")
        try:
            ticket = read_ticket(envelope, trusted)
            expected = {
                "job_id": claim.job_id,
                "site_id": site.site_id,
                "dataset_id": site.dataset_id,
                "analysis_type": claim.analysis_type,
                "requester": claim.requester,
                "model_sha256": claim.model_sha256,
                "params_sha256": claim.params_sha256,
            }
            check_ticket(ticket, expected, self._now)
        except TicketError as exc:
            raise GuardRefusedError(str(exc)) from None
        return ticket

    def run(self, claim: JobClaim, requested: DisclosureRules, work: Callable[[Admission], T]) -> GuardOutcome[T]:
        """Admit, run `work`, audit: never raises; a refusal or a failure is an outcome with a short reason."""
        base = {"job": claim.job_id, "requester": claim.requester, "analysis_type": claim.analysis_type}
        try:
            admission = self.admit(claim, requested)
        except GuardRefusedError as exc:
            self._record("job.refuse", "deny", {**base, "dataset": self.site.dataset_id, "reason": str(exc)})
            return GuardOutcome("refused", str(exc), claim.datasets.get(self.site.site_id))
        try:  # no admission on record, no job: an audit that cannot be written refuses the job
            if not self.admitted.claim(admission.job_id, admission.dataset_id):  # a concurrent copy won the claim
                reason = f"job {claim.job_id} was admitted here before: a job runs once per site"
                self._record("job.refuse", "deny", {**base, "dataset": self.site.dataset_id, "reason": reason})
                return GuardOutcome("refused", reason, self.site.dataset_id)
            self.audit_log.record("job.admit", "allow", **admission.audit_details(), rounds=admission.max_rounds)
        except OSError as exc:
            log.exception("site audit not writable for job %s", claim.job_id)
            return GuardOutcome("refused", f"the site's audit cannot be written: {exc.strerror}", self.site.dataset_id)
        return self.run_admitted(admission, "job", work)

    def run_admitted(self, admission: Admission, event: str, work: Callable[[Admission], T]) -> GuardOutcome[T]:
        """Step 5–6 for an admitted job or one of its rounds (`event`: `job`, `job.round`)."""
        status: Outcome
        result: T | None = None
        try:
            result, status, reason = work(admission), "ok", ""
        except DisclosureRefusedError as exc:
            status, reason = "refused", f"disclosure control: {exc}"
        except DariError as exc:
            log.warning("job %s failed at %s: %s", admission.job_id, admission.site_id, exc, exc_info=True)
            status, reason = "failed", str(exc)
        except Exception as exc:  # a broken site folder is reported, not fatal to the job; details stay here
            log.exception("job %s failed at %s", admission.job_id, admission.site_id)
            status, reason = "failed", f"{type(exc).__name__} at the site (details in the site's log)"
        outcome = {"ok": "ok", "refused": "deny", "failed": "error"}[status]
        self._record(f"{event}.{status}", outcome, {**admission.audit_details(), "reason": reason})
        return GuardOutcome(status, reason, admission.dataset_id, admission, result if status == "ok" else None)

    def refuse_round(self, admission: Admission | None, reason: str, job_id: str) -> None:
        """Audit a refused round (no admission on record, too many rounds, parameters off the path)."""
        details = admission.audit_details() if admission else {"job": job_id, "dataset": self.site.dataset_id}
        self._record("job.round.refused", "deny", {**details, "reason": reason})

    def _record(self, event: str, outcome: str, details: Mapping[str, object]) -> None:
        try:
            self.audit_log.record(event, outcome, **details)
        except OSError:  # the reply still goes out (a refusal or failure); the site's own log has it
            log.exception("site audit not writable: %s %s %s", event, outcome, dict(details))
