"""`dari train`: train a model across sites with Flower; only guarded model updates leave a site.

Every site passes the site guard (the hub's signed ticket, issued here from `--hub-db`, and the grant for
`federated_training`), trains on its own CDM through the feature spec, and sends each round only its local
update over at least the minimum cell of rows (a logistic model or a small MLP: FedAvg/FedProx, or the hub's
robust FedTrimmedAvg/Krum; xgboost trees: FedXgbBagging, every leaf over ≥ min_cell rows). The hub checkpoints
the global model each round (`--checkpoint`; a rerun resumes from it). The model is written as dari's model
files with its CHAI card; `--validate-at` then validates it externally at sites that did not train it (the
existing validation job and report) and, with `--hub-db`, registers it for the deployment gate;
`--leave-one-out` does so once per site, training on the others.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from dari.cli.console import err, guarded, out, step_printer
from dari.errors import InputError

MODELS = ("logistic", "mlp", "xgboost")
AGGREGATIONS = ("mean", "trimmed_mean", "krum")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise InputError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def train(
    sites: Annotated[list[Path], typer.Option("--sites", help="Site folders that train (one per hospital).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for model.onnx, features.json, model_card.json.")],
    spec: Annotated[Path | None, typer.Option("--spec", help="Feature spec (default: the reference model's).")] = None,
    model: Annotated[str, typer.Option(help="logistic, mlp or xgboost.")] = "logistic",
    strategy: Annotated[str, typer.Option(help="fedavg or fedprox (xgboost: fedxgb_bagging).")] = "fedavg",
    aggregation: Annotated[str, typer.Option(help="mean, trimmed_mean (FedTrimmedAvg) or krum.")] = "mean",
    rounds: Annotated[int, typer.Option(help="Federated rounds (each site's ticket allows exactly these).")] = 20,
    local_steps: Annotated[int, typer.Option(help="Gradient steps per site per round.")] = 5,
    proximal_mu: Annotated[float, typer.Option(help="FedProx's μ.")] = 0.1,
    hidden: Annotated[int, typer.Option(help="The MLP's hidden units.")] = 8,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Hub checkpoint file (default OUT/checkpoint.json); a rerun resumes from it.")
    ] = None,
    validate_at: Annotated[
        list[Path] | None, typer.Option("--validate-at", help="Site folders that validate the model (not training).")
    ] = None,
    leave_one_out: Annotated[bool, typer.Option(help="Train on all sites but one, validate at it; each site.")] = False,
    requester: Annotated[str, typer.Option(help="Username the grant is checked for.")] = "researcher",
    hub_db: Annotated[Path | None, typer.Option(help="Hub store (SQLite file): tickets, grants, registry.")] = None,
    no_governance: Annotated[bool, typer.Option(help="No hub: synthetic site folders only.")] = False,
    secure_aggregation: Annotated[
        bool, typer.Option(help="SecAgg+: the hub sees only the sum of the sites' updates.")
    ] = False,
    dp_noise_multiplier: Annotated[
        float | None, typer.Option(help="Differential privacy: DP-SGD noise multiplier σ at each site.")
    ] = None,
    dp_clipping_norm: Annotated[float, typer.Option(help="DP: per-record gradient clipping norm C.")] = 1.0,
    dp_delta: Annotated[float, typer.Option(help="DP: δ of the (ε, δ) reported.")] = 1e-5,
) -> None:
    """Train a model across sites; only guarded model updates leave each site."""
    from dari.federation.flower.train_simulation import build_training

    with guarded():
        _choice(model, MODELS, "--model")
        _choice(aggregation, AGGREGATIONS, "--aggregation")
        chosen = "fedxgb_bagging" if model == "xgboost" else _choice(strategy, ("fedavg", "fedprox"), "--strategy")
        if hub_db is not None and no_governance:
            raise InputError("give only one of --hub-db or --no-governance")
        if leave_one_out and validate_at:
            raise InputError("give only one of --validate-at or --leave-one-out")
        every = [*sites, *(validate_at or [])]
        checker = _checker(every, hub_db)
        settings: dict[str, Any] = {"model": model, "aggregation": aggregation, "local_steps": local_steps}
        settings |= {"proximal_mu": proximal_mu, "hidden": hidden, "secure_aggregation": secure_aggregation}
        dp = None
        if dp_noise_multiplier is not None:
            from dari.training.dp import DpSettings

            dp = DpSettings(noise_multiplier=dp_noise_multiplier, clipping_norm=dp_clipping_norm, delta=dp_delta)

        def request_for(train_sites: list[Path]) -> Any:
            request = build_training(
                train_sites,
                spec or _reference_spec(),
                requester=requester,
                strategy=chosen,  # type: ignore[arg-type]
                rounds=rounds,
                **settings,
            )
            return request if dp is None else request.model_copy(update={"dp": dp})

        started = time.monotonic()
        progress = step_printer("train")
        if validate_at or leave_one_out:
            kept = None if leave_one_out else checkpoint or out_dir / "checkpoint.json"
            _with_evidence(sites, validate_at or [], request_for, out_dir, checker, hub_db, progress, kept)
        else:
            _train_only(sites, request_for(sites), out_dir, checker, hub_db, progress, checkpoint, requester)
        err.print(
            f"[dim]train[/] {model} {chosen}/{aggregation}, {rounds} rounds in {time.monotonic() - started:.1f} s"
        )


def _reference_spec() -> Path:
    from dari.models.reference import reference_model_paths

    return reference_model_paths().spec


def _checker(sites: list[Path], hub_db: Path | None) -> Any:
    from dari.federation.flower.grants import HubStoreGrantChecker, SyntheticOnlyGrantChecker, is_synthetic_site
    from dari.federation.flower.simulation import site_ids

    if hub_db is not None:
        return HubStoreGrantChecker.from_url(hub_db)
    real = [str(s) for s in sites if not is_synthetic_site(s)]
    if real:
        raise InputError(f"training without a hub grant is allowed only on synthetic sites: {', '.join(real)}")
    return SyntheticOnlyGrantChecker({f"{s}-cdm": f for s, f in zip(site_ids(sites), sites, strict=True)})


def _run_lines(run: Any) -> None:
    """What the run record says, for a person: who trained, who dropped out, resumption, privacy."""
    out.print(
        f"  trained by {', '.join(run.trained_by) or 'no site'}; rounds per site "
        + ", ".join(f"{s} {k}" for s, k in sorted(run.rounds_by_site.items()))
        + (f"; resumed from round {run.resumed_from}" if run.resumed_from else "")
    )
    for site, first in sorted(run.dropped_out.items()):
        out.print(f"  {site} dropped out at round {first}; the run went on with the other sites")
    record = run.privacy.model_dump() if run.privacy is not None else {}
    privacy = ", ".join(f"{k}={v}" for k, v in sorted(record.items())) if record else "none"
    out.print(f"  privacy: {privacy}")


def _train_only(
    sites: list[Path],
    request: Any,
    out_dir: Path,
    checker: Any,
    hub_db: Path | None,
    progress: Any,
    checkpoint: Path | None,
    requester: str,
) -> None:
    from dari.atomic import atomic_path
    from dari.federation.consortium.engine import on_engine
    from dari.federation.consortium.jobs import train_on
    from dari.federation.flower.train_simulation import run_training, write_trained_model
    from dari.models.model_card import dump_card
    from dari.models.reference import reference_model_paths
    from dari.training.card import federated_card

    run, engine = on_engine(
        sites,
        hub_db,
        lambda: run_training(
            sites,
            request,
            grant_checker=checker,
            hub_store=hub_db,
            progress=progress,
            checkpoint=checkpoint or out_dir / "checkpoint.json",
        ),
        # The consortium runs plain logistic training; SecAgg+, other families and checkpoints use the simulation.
        None
        if request.secure_aggregation or request.model != "logistic"
        else lambda state: train_on(state, request, hub_store=hub_db),
    )
    err.print(f"[dim]train[/] engine: {engine}")
    if run.privacy is not None:
        err.print(f"[dim]train[/] differential privacy: ε = {run.privacy.epsilon:.3f}, δ = {run.privacy.delta:g}")
        if hub_db is not None:
            _audit_privacy(hub_db, requester, run.job_id, run.privacy.model_dump())
    model_path, spec_path = write_trained_model(run, request, out_dir)
    with atomic_path(out_dir / "training.json") as tmp:
        tmp.write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")
    card = federated_card(
        run,
        request,
        model_path,
        spec_path,
        base_card=reference_model_paths().card,
        validations=[],
        command="dari train",
    )
    with atomic_path(out_dir / "model_card.json") as tmp:
        tmp.write_text(dump_card(card), encoding="utf-8")
    _run_lines(run)
    out.print(f"  model {model_path}, spec {spec_path}, card {out_dir / 'model_card.json'}")
    typer.echo(json.dumps({"model": str(model_path), "spec": str(spec_path), "trained_by": run.trained_by}))


def _with_evidence(
    sites: list[Path],
    validate_at: list[Path],
    request_for: Any,
    out_dir: Path,
    checker: Any,
    hub_db: Path | None,
    progress: Any,
    checkpoint: Path | None,
) -> None:
    """`--validate-at` (checkpointed: resumable) or `--leave-one-out` (one training per held-out site)."""
    from dari.federation.flower.train_evidence import leave_one_site_out, train_and_validate

    kw: dict[str, Any] = {"grant_checker": checker, "hub_store": hub_db, "progress": progress}
    if not validate_at:
        evidence = leave_one_site_out(sites, request_for, out_dir, **kw)
    else:
        key = "+".join(s.name for s in validate_at)
        run_kw = kw | {"checkpoint": checkpoint}
        evidence = {key: train_and_validate(sites, validate_at, request_for(sites), out_dir, **run_kw)}
    summary: dict[str, Any] = {}
    for held_out, ev in evidence.items():
        out.print(f"held out {held_out}:")
        _run_lines(ev.run)
        for site, auc in ev.external.items():
            out.print(f"  external AUROC at {site}: {auc:.3f}" if auc is not None else f"  {site}: not validated")
        if ev.report_id:
            gate = "; ".join(f"{s}: {why}" for s, why in (ev.gate or {}).items())
            out.print(f"  registered; report {ev.report_id} awaits the deployment approver ({gate})")
        out.print(f"  model {ev.model}, card {ev.card}, results {ev.results}")
        summary[held_out] = {"model": str(ev.model), "external_auroc": ev.external, "report_id": ev.report_id}
    typer.echo(json.dumps(summary))


def _audit_privacy(hub_db: Path, requester: str, job_id: str, privacy: dict[str, object]) -> None:
    """The training's (ε, δ) in the hub's audit log (the sites' own logs hold each round's spend)."""
    from dari.hub import audit
    from dari.hub.db.engine import make_engine, session_factory

    with session_factory(make_engine(hub_db))() as session, session.begin():
        audit.record(session, actor=requester, action="training.privacy", target=f"job:{job_id}", detail=privacy)
