"""Signed job tickets: the hub's word, per site, that this job was granted, so a site never trusts a name.

A job names its requester, its datasets and its grants, and anyone who can reach a SuperNode can write a job. A
`JobTicket` is what only the hub can write: after the hub's own `check_grant` says yes for that requester, dataset
and analysis type, it signs (Ed25519, the hub key of `dari.hub.keys`) one ticket per site that binds the job id,
the grant, the requester, the site, the site's dataset, the analysis type, the model's hash and the SHA-256 of the
job's parameters (everything in the request but the tickets), with a short expiry and a maximum of rounds. The
site verifies it with the hub's public key it was given when it joined (`dari.federation.guard`), so a ticket for
another site, another dataset, other parameters or another model, an expired one, or one signed by another key, is
refused before any data is opened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import InputError
from dari.signing import SignatureError, SignedEnvelope, canonical_json, sign_claims, verify_envelope

if TYPE_CHECKING:  # the hub's store loads only where tickets are issued (sites only verify them)
    from sqlalchemy.orm import Session

#: A ticket lives one hour by default: long enough for a job and its rounds, too short to be worth stealing.
DEFAULT_TTL = dt.timedelta(hours=1)
#: Rounds a ticket allows by default (a validation job's report plus its Newton rounds); a site caps it further.
DEFAULT_MAX_ROUNDS = 20
#: Clock skew a site tolerates between its clock and the hub's when reading `issued_at`.
CLOCK_SKEW = dt.timedelta(minutes=5)


class TicketError(InputError):
    """A ticket that is missing, forged, expired or for another job, site or dataset (never quotes the ticket)."""


class JobTicket(BaseModel):
    """The claims the hub signs for one site of one job."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str = Field(min_length=1, max_length=64)
    grant_id: str = Field(min_length=1)
    requester: str = Field(min_length=1, max_length=64)
    site_id: str = Field(min_length=1)
    dataset_id: str = Field(min_length=1)
    analysis_type: str = Field(min_length=1)
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    params_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: dt.datetime
    expires_at: dt.datetime
    max_rounds: int = Field(ge=1, le=1000)

    def signed(self, key: Ed25519PrivateKey) -> SignedEnvelope:
        """The ticket as a signed envelope (canonical JSON of the claims)."""
        return sign_claims(self.model_dump(mode="json"), key)


def params_sha256(request: BaseModel) -> str:
    """SHA-256 of the canonical JSON of a job request's parameters, the hub's tickets and checkpoint left out."""
    body = request.model_dump(mode="json", exclude={"tickets", "audit_checkpoint"})
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def read_ticket(envelope: SignedEnvelope, trusted: Ed25519PublicKey) -> JobTicket:
    """The ticket's claims once the hub's signature verifies; `TicketError` for any other key or a bad payload."""
    try:
        claims = verify_envelope(envelope, trusted)
    except SignatureError as exc:
        raise TicketError(f"job ticket refused: {exc}") from None
    try:
        return JobTicket.model_validate(claims)
    except ValidationError:
        raise TicketError("job ticket refused: its claims do not parse") from None


def check_ticket(ticket: JobTicket, expected: Mapping[str, Any], now: dt.datetime | None = None) -> None:
    """Refuse (`TicketError`) unless every expected claim matches and the ticket is current at `now`."""
    at = now or dt.datetime.now(dt.UTC)
    for name, value in expected.items():
        if getattr(ticket, name) != value:
            # Name the claim, not the values: a reason leaves the site.
            raise TicketError(f"job ticket refused: its {name} does not match this job at this site")
    if at >= ticket.expires_at:
        raise TicketError("job ticket refused: expired")
    if ticket.issued_at > at + CLOCK_SKEW:
        raise TicketError("job ticket refused: issued in the future")


def issue_ticket(
    session: Session,
    key: Ed25519PrivateKey,
    *,
    job_id: str,
    requester: str,
    site_id: str,
    dataset_id: str,
    analysis_type: str,
    model_sha256: str | None,
    params_hash: str,
    ttl: dt.timedelta = DEFAULT_TTL,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> tuple[SignedEnvelope | None, str]:
    """One site's ticket (or None) and the hub's reason, inside the caller's transaction on the hub store.

    The hub's `check_grant` decides (audited as `grant.check`); the ticket is audited as `job.ticket`.
    """
    from dari.hub import audit
    from dari.hub.governance.grants import check_grant

    decision = check_grant(session, requester, dataset_id, analysis_type)
    envelope = None
    if decision.allowed and decision.grant_id is not None:
        issued_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        ticket = JobTicket(
            job_id=job_id,
            grant_id=decision.grant_id,
            requester=requester,
            site_id=site_id,
            dataset_id=dataset_id,
            analysis_type=analysis_type,
            model_sha256=model_sha256,
            params_sha256=params_hash,
            issued_at=issued_at,
            expires_at=issued_at + ttl,
            max_rounds=max_rounds,
        )
        envelope = ticket.signed(key)
    audit.record(
        session,
        actor=requester,
        action="job.ticket",
        target=f"dataset:{dataset_id}",
        outcome="allow" if envelope else "deny",
        detail={
            "job": job_id,
            "site": site_id,
            "analysis_type": analysis_type,
            "grant": decision.grant_id,
            "params_sha256": params_hash,
            "reason": decision.reason,
        },
    )
    return envelope, decision.reason


def issue_tickets(
    store: str | Path,
    *,
    job_id: str,
    requester: str,
    datasets: Mapping[str, str],
    analysis_type: str,
    model_sha256: str | None,
    params_hash: str,
    ttl: dt.timedelta = DEFAULT_TTL,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> dict[str, SignedEnvelope]:
    """The hub's tickets, site id → envelope, for every site whose dataset the requester's grant covers.

    Opens the hub store at `store` and signs with its key (`dari.hub.keys.hub_key_paths(store)`); each site is
    one transaction of `issue_ticket`. A site with no grant gets no ticket and will refuse the job.
    """
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.keys import hub_key_paths

    key = hub_key_paths(store).private_key()
    engine = make_engine(store)
    try:
        require_schema(engine)
        factory = session_factory(engine)
        tickets: dict[str, SignedEnvelope] = {}
        for site_id, dataset_id in datasets.items():
            with factory() as session, session.begin():
                envelope, _ = issue_ticket(
                    session,
                    key,
                    job_id=job_id,
                    requester=requester,
                    site_id=site_id,
                    dataset_id=dataset_id,
                    analysis_type=analysis_type,
                    model_sha256=model_sha256,
                    params_hash=params_hash,
                    ttl=ttl,
                    max_rounds=max_rounds,
                )
            if envelope is not None:
                tickets[site_id] = envelope
        return tickets
    finally:
        engine.dispose()


def hub_public_pem(store: str | Path) -> str:
    """The hub's public key (PEM text) that sites trust: what `hub-public-key` names on a SuperNode."""
    from dari.hub.keys import hub_key_paths

    return hub_key_paths(store).public.read_text(encoding="ascii")
