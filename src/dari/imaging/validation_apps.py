"""Federated imaging validation on Flower: the site's ClientApp, and a run over local site folders in Flower's
simulation engine with the hub's own ServerApp (`dari.federation.flower.hub_app`).

The site app answers `query.validate` with an `ImagingJobRequest` (through `validation_site`, the site guard
included) and keeps its scores in the node's state exactly as the tabular site app does, so the Newton rounds of
calibration (`query.calibrate`) are answered by the tabular app's own `answer_round`: the same path checks, round
limits and audit. The hub is unchanged: `run_job` collects the reports, runs the rounds and pools into a
`ValidationRun`; `run_imaging_validation` adds sensitivity at fixed false positives per image from the released
statistics (`froc`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, Context, Message
from flwr.clientapp import ClientApp
from pydantic import ValidationError

from dari.disclosure import DisclosureRules
from dari.federation.flower.calibration import CalibrationState
from dari.federation.flower.grants import GrantChecker, SyntheticOnlyGrantChecker
from dari.federation.flower.hub_app import HubJob, Progress, make_hub_app
from dari.federation.flower.jobs import CalibrationQuery, CalibrationReply, SiteReport
from dari.federation.flower.simulation import FederationRunError, simulate, site_ids
from dari.federation.flower.site_app import (
    PAYLOAD,
    _reply,  # the same reply envelope as the tabular app's
    _save_state,  # the tabular app's node-state layout, shared so its `answer_round` serves imaging jobs too
    _state_key,
    answer_round,
    binding_from_context,
)
from dari.federation.guard import SiteBinding
from dari.imaging.froc import sensitivity_at_fp_stats
from dari.imaging.scoring import ImageScorer
from dari.imaging.validation_job import ImagingJobRequest, ImagingScope, ImagingValidationRun
from dari.imaging.validation_site import admit_and_validate_images
from dari.validation import ValidationSpec


def make_imaging_site_app(
    scorer: ImageScorer, bindings: Mapping[int, SiteBinding] | None = None, checker: GrantChecker | None = None
) -> ClientApp:
    """A ClientApp validating `scorer` on its site's PACS; `bindings`/`checker` for simulation."""
    app = ClientApp()

    @app.query("validate")
    def validate(message: Message, context: Context) -> Message:
        try:
            site = binding_from_context(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, SiteReport(site_id="unknown", status="failed", reason=str(exc)))
        try:
            job = ImagingJobRequest.model_validate_json(str(message.content.config_records[PAYLOAD]["job"]))
        except (KeyError, ValidationError) as exc:
            reason = f"unreadable imaging job request: {type(exc).__name__}"
            return _reply(message, SiteReport(site_id=site.site_id, status="failed", reason=reason))
        if checker is None:
            return _reply(message, SiteReport(site_id=site.site_id, status="refused", reason="no grant checker"))
        report, scored, admission = admit_and_validate_images(job, scorer, site, checker)
        if scored is not None and admission is not None and report.status == "ok":
            # row-level scores stay in this node's state for the Newton rounds (on the site), as in the tabular app
            context.state[_state_key(job.job_id)] = ArrayRecord(numpy_ndarrays=[scored.y.astype(np.float64), scored.p])
            _save_state(context, CalibrationState(admission=admission, job_sites=tuple(job.datasets)))
        return _reply(message, report)

    @app.query("calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        try:
            site = binding_from_context(context, bindings)
            query = CalibrationQuery.model_validate_json(str(message.content.config_records[PAYLOAD]["json"]))
        except (KeyError, ValueError, ValidationError) as exc:
            return _reply(message, CalibrationReply(site_id="unknown", status="failed", reason=type(exc).__name__))
        return _reply(message, answer_round(context, site, query))

    return app


def build_imaging_job(
    sites: Sequence[Path],
    scorer: ImageScorer,
    *,
    requester: str,
    threshold: float = 0.5,
    rules: DisclosureRules | None = None,
    scope: ImagingScope | None = None,
) -> ImagingJobRequest:
    """The job for these sites (dataset id `<site-id>-pacs`)."""
    return ImagingJobRequest(
        requester=requester,
        datasets={s: f"{s}-pacs" for s in site_ids(sites)},
        model_sha256=scorer.sha256,
        scope=scope or ImagingScope(),
        validation=ValidationSpec(threshold=threshold),
        disclosure=rules or DisclosureRules(),
    )


def run_imaging_validation(
    sites: Sequence[Path],
    scorer: ImageScorer,
    *,
    requester: str,
    threshold: float = 0.5,
    rules: DisclosureRules | None = None,
    scope: ImagingScope | None = None,
    progress: Progress | None = None,
    num_cpus: int | None = None,
) -> ImagingValidationRun:
    """Validate `scorer` on every site's PACS through Flower's simulation engine (synthetic sites: no hub).

    `num_cpus` (default: one per site) is what Ray is told: a site's work waits on its PACS for part of each image,
    so every site runs at once even on two cores (with 2 for 3 sites, the third waited for the first two)."""
    job = build_imaging_job(sites, scorer, requester=requester, threshold=threshold, rules=rules, scope=scope)
    ids = site_ids(sites)
    bindings = {
        i: SiteBinding(site_id=s, folder=str(Path(f).resolve()), dataset_id=f"{s}-pacs", floor=job.disclosure)
        for i, (s, f) in enumerate(zip(ids, sites, strict=True))
    }
    checker = SyntheticOnlyGrantChecker({b.dataset_id: b.folder for b in bindings.values()})
    hub_job = HubJob(request=job, model_bytes=None, engine="simulation", node_wait_s=5.0)
    if progress is not None:
        hub_job.progress = progress
    cpus = num_cpus or len(sites)
    simulate(make_hub_app(hub_job), make_imaging_site_app(scorer, bindings, checker), len(sites), cpus)
    if not hub_job.result:
        raise FederationRunError("the simulation ended without a result (see the Flower log above)")
    run = hub_job.result[0]
    points = {
        s: sensitivity_at_fp_stats([r.statistics], job.fp_per_image)
        for s, r in run.sites.items()
        if r.statistics is not None
    }
    covered = [st for s in run.covered if (st := run.sites[s].statistics) is not None]
    if covered:
        points["pooled"] = sensitivity_at_fp_stats(covered, job.fp_per_image)
    return ImagingValidationRun(run=run, scope=job.scope, sensitivity_at_fp=points)
