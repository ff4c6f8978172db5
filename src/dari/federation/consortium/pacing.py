"""How often the consortium's processes poll: fast while a job is about, slowly when idle.

Every link of the deployment engine is a poll (SuperNode → SuperLink, executor → SuperNode, hub executor →
SuperLink). flwr 1.41 waits a fixed 3 s after an empty poll, so each round of a job waits seconds for nothing; a
fixed short wait instead would keep an idle consortium busy (on a shared 2-core machine that is real load). A
`Pacer` polls every `fast_s` for `window_s` after the last sign of work, and every `idle_s` otherwise: the first
message of a job waits at most `idle_s` per hop, every later round `fast_s`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """The wait before the next poll: `fast_s` within `window_s` of the last work seen, else `idle_s`."""

    fast_s: float = 0.05
    idle_s: float = 0.25
    window_s: float = 10.0
    _last_busy: float = field(default=float("-inf"))

    def busy(self) -> None:
        """Record work just seen (a task taken, a reply awaited)."""
        self._last_busy = time.monotonic()

    def interval(self) -> float:
        """The wait before the next poll."""
        return self.fast_s if time.monotonic() - self._last_busy < self.window_s else self.idle_s

    def wait(self) -> None:
        """Sleep until the next poll."""
        time.sleep(self.interval())
