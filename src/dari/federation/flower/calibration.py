"""Calibration rounds a site can trust: each site walks the Newton path itself from the hub's broadcast sums.

A hub that may choose any (intercept, slope) each round can probe a site's score distribution (31 chosen
rounds recovered exact counts per eGFR value). So a site answers a round only when its parameters are the ones
*the site itself* computes:

* every fit starts at (0, 1), the model as it is (`newton_fit`'s default start), never where the hub says;
* every later round carries the hub's broadcast of the previous round's pooled sums (n, events, U, I, log-likelihood
  over the covered sites); the site checks that broadcast against its own contribution (same parameters, its own
  sums inside the totals, the rest a valid aggregate; exactly its own sums when it is the only covered site),
  replays `dari.validation.newton_fit` — the hub's own code, step-halving included — through the broadcasts, and
  requires the round's parameters to be exactly the next ones it yields, within `MAX_STEP` of the last round;
* the covered sites a round names must be sites of the job (whose parameters' hash the ticket signs);
* a fit that has converged gets no further round, and a job gets at most `Admission.max_rounds` rounds
  (node config `max-rounds`, default 20, never above the ticket's).

The path and the site-enforced rules live in the node's state (`CalibrationState`), on the site. What a hub that
fakes other sites' sums can still steer is documented in docs/federation.md ("Calibration rounds").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from dari.errors import DariError
from dari.federation.guard import Admission
from dari.validation import LogisticParams, LogisticStepStats, OffsetMode, UndefinedMetricWarning, newton_fit
from dari.validation.logistic import total_step_stats

#: The largest change of intercept or slope (logit units) a site accepts between two rounds of one fit.
MAX_STEP = 5.0
_TOL = 1e-9


class PathError(DariError):
    """A calibration round whose parameters or broadcast do not follow from the previous round."""


class CalibrationState(BaseModel):
    """A job's Newton rounds as this site sees them, kept in node state between messages."""

    model_config = ConfigDict(extra="forbid")
    admission: Admission
    job_sites: tuple[str, ...] = Field(default=(), description="the sites the (ticketed) job names")
    rounds: int = Field(default=0, description="calibration rounds answered (or attempted) for this job")
    own: dict[OffsetMode, LogisticStepStats] = Field(default_factory=dict, description="this site's last answer")
    paths: dict[OffsetMode, list[LogisticStepStats]] = Field(
        default_factory=dict, description="the hub's broadcast totals since the fit (re)started"
    )


def pool_steps(stats: Sequence[LogisticStepStats]) -> LogisticStepStats:
    """The covered sites' sums at one round's parameters (correctly rounded sums: the order does not matter)."""
    first = stats[0]
    try:
        return total_step_stats(stats, first.params, first.offset_mode)
    except ValueError:
        raise PathError("sites answered different rounds (parameters or mode do not match)") from None


def next_params(mode: OffsetMode, path: Sequence[LogisticStepStats]) -> LogisticParams | None:
    """The parameters `newton_fit` asks for after these broadcast totals (None: the fit has finished)."""
    fit = newton_fit(mode)
    params = next(fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for total in path:
            try:
                params = fit.send([total])
            except StopIteration:
                return None
            except ValueError:  # the broadcast is for other parameters than the path asked
                raise PathError("the broadcast sums are not those of the previous round") from None
    return params


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL * (1.0 + abs(a) + abs(b))


def check_broadcast(total: LogisticStepStats, own: LogisticStepStats, sites: Sequence[str], site_id: str) -> None:
    """Refuse (`PathError`) a broadcast that cannot be the previous round's totals with this site's sums in them."""
    if total.offset_mode != own.offset_mode or total.params != own.params:
        raise PathError("the broadcast is for other parameters than this site answered last")
    if site_id not in sites:
        raise PathError("the broadcast does not count this site among the covered sites")
    others_n, others_events = total.n - own.n, total.events - own.events
    if not 0 <= others_events <= others_n:
        raise PathError("the broadcast totals do not contain this site's own counts")
    mine = (*own.score, *own.information, own.log_likelihood)
    sums = zip((*total.score, *total.information, total.log_likelihood), mine, strict=True)
    if len(sites) == 1:
        if others_n or not all(_close(t, o) for t, o in sums):
            raise PathError("as the only covered site, the broadcast must be exactly this site's own sums")
        return
    if others_n < len(sites) - 1:
        raise PathError("the broadcast counts fewer rows than its covered sites")
    i_aa, i_ab, i_bb = (t - o for t, o in zip(total.information, own.information, strict=True))
    slack = _TOL * (1.0 + abs(total.information[0]) + abs(total.information[2]))
    if i_aa < -slack or i_bb < -slack or i_ab * i_ab > i_aa * i_bb + slack * (1.0 + abs(i_aa) + abs(i_bb)):
        raise PathError("the other sites' information in the broadcast is not a valid aggregate")
    if total.log_likelihood > own.log_likelihood + slack:
        raise PathError("the other sites' log-likelihood in the broadcast is positive")


def check_round(
    state: CalibrationState,
    steps: Sequence[tuple[OffsetMode, LogisticParams, LogisticStepStats | None]],
    sites: Sequence[str],
) -> dict[OffsetMode, list[LogisticStepStats]]:
    """Each step's path with its broadcast appended, once its parameters are the next on the site's own path."""
    site_id = state.admission.site_id
    if state.job_sites and not set(sites) <= set(state.job_sites):
        raise PathError("the round names covered sites that are not part of the job")
    if len({mode for mode, _, _ in steps}) != len(steps):
        raise PathError("a round asks the same fit twice")
    paths = dict(state.paths)
    for mode, params, previous in steps:
        own = state.own.get(mode)
        path: list[LogisticStepStats] = []
        if previous is not None:
            if own is None:
                raise PathError("a broadcast for a fit this site has not answered")
            check_broadcast(previous, own, sites, site_id)
            path = [*state.paths.get(mode, []), previous]
        expected = next_params(mode, path)
        if expected is None:
            raise PathError(f"the {mode} fit has converged: no further round")
        if params != expected:
            raise PathError(f"the {mode} parameters are not the Newton step from the broadcast sums")
        if previous is not None and own is not None:
            jump = max(abs(params.intercept - own.params.intercept), abs(params.slope - own.params.slope))
            if jump > MAX_STEP:
                raise PathError(f"the {mode} step exceeds {MAX_STEP} (logit units) between rounds")
        paths[mode] = path
    return paths
