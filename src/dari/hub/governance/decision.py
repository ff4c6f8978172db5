"""The grant decision record on its own, so a site node can read the hub's answer without loading the hub's store."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GrantDecision(BaseModel):
    """The answer to 'may this user run this analysis on this dataset now?'."""

    model_config = ConfigDict(frozen=True)
    allowed: bool
    grant_id: str | None
    reason: str
    epsilon_budget: float | None = None  # the DRB's ε budget on the grant (differential privacy of training)
