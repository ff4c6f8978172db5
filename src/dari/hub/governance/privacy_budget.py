"""The DRB's ε budget on a grant: the most privacy loss its federated trainings may spend at each site.

Set when the grant is approved (or tightened later by the DRB), audited as `grant.privacy_budget`; the hub's
grant decision carries it to every site, whose own ε ledger (`dari.federation.dp_budget`) refuses a round beyond
it. A budget can only be lowered once set: raising it would re-open what the DRB closed.
"""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from dari.hub import audit
from dari.hub.governance.errors import ConflictError
from dari.hub.governance.grants import get_grant


def set_epsilon_budget(session: Session, grant_id: str, epsilon: float, *, actor: str) -> None:
    """Set (or lower) a grant's ε budget; refused when not a positive finite number or above the current one."""
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ConflictError(f"the ε budget must be a positive number, got {epsilon!r}")
    grant = get_grant(session, grant_id)
    if grant.epsilon_budget is not None and epsilon > grant.epsilon_budget:
        raise ConflictError(f"grant {grant_id} has an ε budget of {grant.epsilon_budget:g}: it can only be lowered")
    previous, grant.epsilon_budget = grant.epsilon_budget, epsilon
    audit.record(
        session,
        actor=actor,
        action="grant.privacy_budget",
        target=f"grant:{grant_id}",
        detail={"epsilon_budget": epsilon, "previous": previous},
    )
