"""`dari hub grant-budget`: the DRB sets (or lowers) a grant's ε budget for differentially private training."""

from __future__ import annotations

from typing import Annotated

import typer

from dari.cli.console import err, guarded
from dari.errors import InputError


def grant_budget(
    grant: Annotated[str, typer.Argument(help="The grant's id (grant-…).")],
    epsilon: Annotated[float, typer.Option(help="The ε budget every site enforces per grant.")],
    actor: Annotated[str, typer.Option(help="The DRB member (or platform admin) setting it.")],
    db: Annotated[str, typer.Option(help="Hub store (SQLite file or database URL).")] = "hub.db",
) -> None:
    """Set or lower a grant's ε budget (DRB); sites refuse training rounds beyond it."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.governance.privacy_budget import set_epsilon_budget
    from dari.hub.governance.roles import Role
    from dari.hub.governance.users import get_user

    with guarded():
        engine = make_engine(db)
        require_schema(engine)
        with session_factory(engine)() as session, session.begin():
            user = get_user(session, actor)
            if user.role not in (Role.DRB_MEMBER, Role.PLATFORM_ADMIN):
                raise InputError(f"{actor} is a {user.role}: only a DRB member or platform admin sets a budget")
            set_epsilon_budget(session, grant, epsilon, actor=actor)
        err.print(f"grant {grant}: ε budget {epsilon:g} (audited as grant.privacy_budget)")
