"""How often the consortium's processes poll: at once after work, then backing off towards an idle interval.

Every link of the deployment engine is a poll (SuperNode → SuperLink, executor → SuperNode, hub executor →
SuperLink). flwr 1.41 waits a fixed 3 s after an empty poll, so each round of a job waits seconds for nothing; a
fixed short wait instead keeps seven processes polling many times a second, which on a shared 2-core machine
costs more CPU than the job itself (measured: 8.6 × the centralised CPU with 0.05 s polls). A `Pacer` waits
`fast_s` after the last sign of work and doubles the wait at every empty poll up to `idle_s`: a round whose
messages follow each other closely costs a few short polls, a long wait (a site scoring its cohort, an idle
consortium) costs a poll every `idle_s`, and a message never waits longer than about twice the quiet before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Pacer:
    """Exponential back-off from `fast_s` to `idle_s`, reset by `busy()`."""

    fast_s: float = 0.02
    idle_s: float = 0.5
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.idle_s  # nothing seen yet: idle

    def busy(self) -> None:
        """Record work just seen (a task taken or done, a message pulled): poll again soon."""
        self._next = self.fast_s

    def interval(self) -> float:
        """The wait before the next poll."""
        return self._next

    def wait(self, at_most: float | None = None) -> None:
        """Sleep until the next poll (no longer than `at_most`), and back off for the one after."""
        time.sleep(self._next if at_most is None else min(self._next, at_most))
        self._next = min(self.idle_s, self._next * 2)
