"""`dari validate`: multicenter validation of a model through the federated engine (Flower simulation).

Each site folder becomes one virtual Flower SuperNode; the job follows exactly the path of a deployment (the site
guard: the site's own dataset, the hub's signed ticket — issued here from `--hub-db`, acting as the hub's
coordinator — the grant, the site's rules and audit; aggregates only out). `--centralised` and
`--export-predictions` read rows directly and are allowed on synthetic site folders only.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from dari.atomic import atomic_path
from dari.cli.console import err, guarded, step_printer
from dari.errors import InputError
from dari.federation.consortium.engine import on_engine
from dari.federation.consortium.jobs import validate_on
from dari.federation.flower.grants import (
    GrantChecker,
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
    is_synthetic_site,
)
from dari.federation.flower.jobs import ValidationRun
from dari.federation.flower.simulation import run_validation, site_ids
from dari.federation.flower.site_work import score_site
from dari.models import OnnxModel, load_spec
from dari.models.reference import reference_model_paths
from dari.validation import MetaAnalysis, PooledMetrics, ValidationSpec, centralised_pooled_metrics
from dari.validation.thresholds import ThresholdMetrics


def _accuracy(t: ThresholdMetrics | None) -> dict[str, Any] | None:
    """Sensitivity and specificity at the threshold with their counts and Wilson CIs (None where withheld)."""
    if t is None:
        return None
    return {
        "threshold": t.counts.threshold,
        **{
            k: {
                "estimate": p.estimate,
                "ci_low": p.ci_low,
                "ci_high": p.ci_high,
                "numerator": p.numerator,
                "denominator": p.denominator,
            }
            for k, p in (("sensitivity", t.sensitivity), ("specificity", t.specificity))
        },
    }


def summary(m: PooledMetrics | Any) -> dict[str, Any]:
    """The headline figures of a pooled or site result (the keys every consumer of the JSON can rely on)."""
    if isinstance(m, PooledMetrics):
        slope, citl, brier = m.calibration_slope, m.citl, m.brier
    else:
        slope, citl, brier = m.calibration.slope, m.calibration.citl, m.calibration.brier
    return {
        "n": m.n,
        "events": m.events,
        "prevalence": m.events / m.n if m.n else None,
        "auroc": m.auroc.estimate,
        "auroc_ci": [m.auroc.ci_low, m.auroc.ci_high],
        "calibration_slope": slope.estimate,
        "calibration_intercept": citl.estimate,
        "brier": brier.brier,
        "accuracy": _accuracy(m.threshold),
    }


def _meta_summary(m: MetaAnalysis) -> dict[str, Any]:
    return {
        "estimate": m.estimate,
        "ci": [m.ci_low, m.ci_high],
        "pi": [m.pi_low, m.pi_high],
        "i2": m.i2,
        "k": m.k,
        "sites": list(m.sites),
    }


def result_json(
    run: ValidationRun, centralised: PooledMetrics | None, *, threshold: float | None = None
) -> dict[str, Any]:
    """The result file (`dari-validation-results/1`, docs/results-format.md): headline figures per site and
    pooled, then the full records (aggregates only); checked against the format before it is returned."""
    sites = {
        s: {"status": r.status, "reason": r.reason, **(summary(r.metrics) if r.metrics else {})}
        for s, r in run.sites.items()
    }
    from dari.reports.results_file import FORMAT_ID, parse_summary  # the format's one definition

    declared = threshold if threshold is not None else run.pooled.threshold.counts.threshold if run.pooled else None
    out: dict[str, Any] = {
        "format": FORMAT_ID,
        "job_id": run.job_id,
        "model_sha256": run.model_sha256,
        "engine": run.engine,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": declared,
        "sites": sites,
        "covered": list(run.covered),
        "refused": list(run.refused),
        "failed": list(run.failed),
        "pooled": {"sites": list(run.covered), **summary(run.pooled)} if run.pooled else None,
        "meta_analysis": {k: _meta_summary(v) for k, v in run.meta_analysis.items()},
        "subgroups": {
            s: [json.loads(v.model_dump_json()) for v in r.subgroups] for s, r in run.sites.items() if r.subgroups
        },
        # Each released subgroup level pooled across sites (random effects), from the released results above only.
        "subgroup_meta_analysis": [
            {
                "variable": g.variable,
                "level": g.level,
                "auroc": _meta_summary(g.auroc),
                "calibration_slope": _meta_summary(g.calibration_slope),
            }
            for g in run.subgroup_meta
        ],
        "detail": json.loads(run.model_dump_json()),
    }
    if centralised is not None:
        out["centralised"] = {"note": "computed on pooled rows: synthetic data only", **summary(centralised)}
    parse_summary(json.loads(json.dumps(out, allow_nan=True)), source="dari validate")  # the writer obeys the format
    return out


def _checker(
    sites: list[Path],
    requester: str | None,
    hub_db: Path | None,
    hub_url: str | None,
    hub_token: str | None,
    no_governance: bool,
) -> GrantChecker:
    chosen = sum(x is not None for x in (hub_db, hub_url)) + int(no_governance)
    if chosen > 1:
        raise InputError("give only one of --hub-db, --hub-url (with --hub-token) or --no-governance")
    if chosen == 0:
        # The documented contract (`dari validate --model M --spec F --sites data/site-* --json R`) names no hub:
        # on synthetic sites that means --no-governance; real sites are refused below without a hub.
        no_governance = True
    if hub_url is not None:
        if not hub_token:
            raise InputError("--hub-url needs --hub-token")
        HubApiGrantChecker(hub_url, hub_token)  # refuses plain http to a non-loopback host first
        raise InputError(NO_REST_TICKETS)
    if hub_db is not None:
        return HubStoreGrantChecker.from_url(hub_db)
    _require_synthetic(sites, "validation without a hub grant (--no-governance, or no hub option)")
    return SyntheticOnlyGrantChecker({f"{s}-cdm": f for s, f in zip(site_ids(sites), sites, strict=True)})


#: Sites run only jobs with a ticket signed by the hub key; the REST API does not issue tickets (yet).
NO_REST_TICKETS = (
    "--hub-url: the hub's REST API does not issue signed job tickets yet, and sites refuse a job without one; "
    "run as the hub's coordinator with --hub-db (the hub store and its signing key)"
)


def _require_synthetic(sites: list[Path], option: str) -> None:
    real = [str(s) for s in sites if not is_synthetic_site(s)]
    if real:
        raise InputError(f"{option} is allowed only on synthetic site folders (no truth/ marker): {', '.join(real)}")


def centralised_rows(sites: list[Path], model_path: Path, spec_path: Path) -> list[tuple[str, Any]]:
    """Every site's scored cohort, read directly (synthetic data only)."""
    spec = load_spec(spec_path)
    model = OnnxModel.load(model_path, spec=spec)
    return [(s, score_site(f, model, spec)) for s, f in zip(site_ids(sites), sites, strict=True)]


def validate(
    sites: Annotated[list[Path], typer.Option("--sites", help="Site folders (one per hospital).")],
    model: Annotated[str, typer.Option("--model", help="ONNX model file, or 'reference'.")] = "reference",
    spec: Annotated[Path | None, typer.Option("--spec", help="Feature spec (features.json).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results here.")] = None,
    threshold: Annotated[float, typer.Option(help="Declared operating threshold.")] = 0.5,
    centralised: Annotated[bool, typer.Option(help="Also compute on pooled rows (synthetic only).")] = False,
    export_predictions: Annotated[Path | None, typer.Option(help="CSV site,person_id,y_true,y_score.")] = None,
    requester: Annotated[str, typer.Option(help="Username the grant is checked for.")] = "researcher",
    hub_db: Annotated[Path | None, typer.Option(help="Hub store (SQLite file) to check grants in.")] = None,
    hub_url: Annotated[str | None, typer.Option(help="Hub URL to check grants with.")] = None,
    hub_token: Annotated[str | None, typer.Option(help="API token for --hub-url.", envvar="DARI_HUB_TOKEN")] = None,
    no_governance: Annotated[bool, typer.Option(help="No hub: synthetic site folders only.")] = False,
    secure_aggregation: Annotated[
        bool, typer.Option(help="SecAgg+: pooled AUROC from fine histograms the hub sees only summed.")
    ] = False,
) -> None:
    """Validate a model across sites with the federated engine; only aggregates leave each site."""
    with guarded():
        if model == "reference":
            ref = reference_model_paths()
            model_path, spec_path = ref.model, spec or ref.spec
        else:
            if spec is None:
                raise InputError("--spec is required unless --model reference")
            model_path, spec_path = Path(model), spec
        if not 0 < threshold < 1:
            raise InputError(f"--threshold must lie strictly between 0 and 1, got {threshold}")
        checker = _checker(sites, requester, hub_db, hub_url, hub_token, no_governance)
        started = time.monotonic()
        run, engine = on_engine(
            sites,
            hub_db,
            lambda: run_validation(
                sites,
                model_path,
                spec_path,
                grant_checker=checker,
                requester=requester,
                threshold=threshold,
                progress=step_printer("validate"),
                hub_store=hub_db,  # the coordinator issues the hub's signed tickets (audited as job.ticket)
                secure_histogram=secure_aggregation,
            ),
            # The consortium's deployed validation app does not run the secure-histogram stage: a secure job
            # always goes to the simulation engine.
            None
            if secure_aggregation
            else lambda state: validate_on(
                state, sites, model_path, spec_path, requester=requester, threshold=threshold, hub_store=hub_db
            ),
        )
        federated_s = time.monotonic() - started
        central = None
        if centralised or export_predictions:
            _require_synthetic(sites, "--centralised/--export-predictions")
            started = time.monotonic()
            rows = centralised_rows(sites, model_path, spec_path)
            if centralised:  # over the sites the federated result covers, so the two are comparable
                both = [r for s, r in rows if s in run.covered]
                if both:
                    yc, pc = np.concatenate([r.y for r in both]), np.concatenate([r.p for r in both])
                    central = centralised_pooled_metrics(yc, pc, ValidationSpec(threshold=threshold), sites=len(both))
            err.print(f"[dim]validate[/] centralised on pooled rows: {time.monotonic() - started:.1f} s")
            if export_predictions:
                with atomic_path(export_predictions) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(["site", "person_id", "y_true", "y_score"])
                    for s, r in rows:
                        w.writerows(
                            (s, int(i), int(t), float(q)) for i, t, q in zip(r.person_id, r.y, r.p, strict=True)
                        )
        err.print(
            f"[dim]validate[/] federated ({engine}): {federated_s:.1f} s; covered "
            f"{', '.join(run.covered) or 'no site'}; refused {', '.join(run.refused) or 'none'}; "
            f"failed {', '.join(run.failed) or 'none'}"
        )
        doc = result_json(run, central, threshold=threshold)
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=True)
        if json_out:
            with atomic_path(json_out) as tmp:
                tmp.write_text(text + "\n", encoding="utf-8")
        else:
            typer.echo(text)
        if run.pooled is None:
            raise typer.Exit(3)
