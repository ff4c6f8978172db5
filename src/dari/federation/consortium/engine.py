"""Which engine runs a job: the local consortium when it is up for exactly these sites, else the simulation engine.

`dari validate`, `dari feasibility`/`table-one` and `dari train` all go through `on_engine`, so each job says which
engine ran it. The consortium is used only when its site folders are the job's and its governance is the job's
(the same hub store, or none for synthetic folders); `DARI_ENGINE=simulation` forces the simulation engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from dari.federation.consortium.local import ConsortiumState, describe, is_up, read_state

R = TypeVar("R")
SIMULATION = "simulation engine"


def local_consortium(sites: Sequence[Path], hub_db: Path | str | None) -> ConsortiumState | None:
    """The local consortium that can run a job on these sites under this governance, or None."""
    if os.environ.get("DARI_ENGINE", "").lower() == "simulation":
        return None
    state = read_state()
    if state is None or not is_up(state):
        return None
    if {str(Path(s).resolve()) for s in sites} != state.folders():
        return None
    wanted = "none" if hub_db is None else str(Path(hub_db).resolve())
    return state if state.governance == wanted else None


def on_engine(
    sites: Sequence[Path],
    hub_db: Path | str | None,
    simulated: Callable[[], R],
    deployed: Callable[[ConsortiumState], R] | None,
) -> tuple[R, str]:
    """Run the job on the local consortium when it is up for these sites (and the job has a deployed form,
    `deployed`), else in the simulation engine; the result and the engine's name (for the command's output)."""
    state = local_consortium(sites, hub_db) if deployed is not None else None
    if state is None or deployed is None:
        return simulated(), SIMULATION
    return deployed(state), describe(state)
