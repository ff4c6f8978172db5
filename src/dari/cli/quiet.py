"""Third-party notices a `dari` user cannot act on, kept off stdout/stderr; each filter names what it hides.

Installed once when a `dari` command starts (the root callback). Only notices about the libraries' own future
are hidden; their errors, and dari's own warnings, are not.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

# Ray (2.5x) warns on every driver start that it will stop overriding CUDA_VISIBLE_DEVICES when num_gpus=0; dari's
# simulations use no GPU, and 0 opts into the future behaviour, which is also what turns the FutureWarning off.
_RAY_ACCELERATOR_OVERRIDE = "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO"
_IBIS_FETCH_ARROW = "ignore:fetch_arrow_table() is deprecated:DeprecationWarning"


class _DropMessages(logging.Filter):
    """Drop log records whose message contains one of the given texts."""

    def __init__(self, *texts: str) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record to drop."""
        message = record.getMessage()
        return not any(text in message for text in self.texts)


def quiet_third_party() -> None:
    """Hide the upstream deprecation notices and font-subsetting chatter of a normal dari run (idempotent)."""
    os.environ.setdefault(_RAY_ACCELERATOR_OVERRIDE, "0")
    # ibis 12's DuckDB backend calls DuckDB's deprecated fetch_arrow_table() (DuckDB >= 1.4 says to_arrow_table()).
    # A filter alone is not enough: importing flwr.simulation.ray_transport.utils runs
    # `warnings.filterwarnings("once", category=DeprecationWarning)`, which lands in front of any filter set
    # before it and shows every DeprecationWarning; the display hook drops this one whatever the filters say.
    warnings.filterwarnings("ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning)
    if not getattr(warnings.showwarning, "_dari_quiet", False):
        warnings.showwarning = _without_upstream_notices(warnings.showwarning)
    # The same for the processes a command starts (`dari cds serve` workers are spawned interpreters, Ray's too):
    # they read PYTHONWARNINGS at start.
    inherited = os.environ.get("PYTHONWARNINGS", "")
    if _IBIS_FETCH_ARROW not in inherited:
        os.environ["PYTHONWARNINGS"] = ",".join(f for f in (inherited, _IBIS_FETCH_ARROW) if f)
    # Flower 1.4x: "DEPRECATED FEATURE: The `run_simulation` function is deprecated" (flwr.simulation): dari runs
    # the simulation engine in-process on purpose for one-machine jobs (docs/federation.md); `flwr run` is the
    # deployment path.
    _filter_once(logging.getLogger("flwr"), _DropMessages("`run_simulation` function is deprecated"))
    # fontTools (matplotlib's PDF font subsetting) logs "TSI0 NOT subset; don't know how to subset; dropped" for
    # each TrueType hinting table of NanumGothic: harmless, the glyphs are embedded.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    # matplotlib: "findfont: Failed to find font weight bold for NanumGothic, now using 600": the bundled
    # NanumGothic has no bold face; the nearest weight is used, as intended.
    _filter_once(logging.getLogger("matplotlib.font_manager"), _DropMessages("Failed to find font weight"))


def _without_upstream_notices(show: Any) -> Any:
    def quiet_show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, DeprecationWarning) and "fetch_arrow_table() is deprecated" in str(message):
            return
        show(message, category, *args, **kwargs)

    quiet_show._dari_quiet = True  # type: ignore[attr-defined]
    return quiet_show


def _filter_once(logger: logging.Logger, dropper: _DropMessages) -> None:
    if not any(isinstance(f, _DropMessages) and f.texts == dropper.texts for f in logger.filters):
        logger.addFilter(dropper)
