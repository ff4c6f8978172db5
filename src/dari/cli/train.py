"""`dari train`: train a logistic model across sites with Flower (FedAvg or FedProx); only updates leave a site.

Every site passes the site guard (the hub's signed ticket, issued here from `--hub-db`, and the grant for
`federated_training`), trains on its own CDM through the feature spec, and sends each round only its local
update over at least the minimum cell of rows, weighted by its protected cohort size. The trained model is
written as dari's model files (`model.onnx`, `features.json` with the exact linear terms), ready for
`dari validate` at a site that did not train it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from dari.cli.console import err, guarded, step_printer
from dari.errors import InputError


def train(
    sites: Annotated[list[Path], typer.Option("--sites", help="Site folders that train (one per hospital).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for model.onnx, features.json and training.json.")],
    spec: Annotated[Path | None, typer.Option("--spec", help="Feature spec (default: the reference model's).")] = None,
    strategy: Annotated[str, typer.Option(help="fedavg or fedprox.")] = "fedavg",
    rounds: Annotated[int, typer.Option(help="Federated rounds (each site's ticket allows exactly these).")] = 20,
    local_steps: Annotated[int, typer.Option(help="Gradient steps per site per round.")] = 5,
    proximal_mu: Annotated[float, typer.Option(help="FedProx's μ.")] = 0.1,
    requester: Annotated[str, typer.Option(help="Username the grant is checked for.")] = "researcher",
    hub_db: Annotated[Path | None, typer.Option(help="Hub store (SQLite file): tickets and grants.")] = None,
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
    from dari.atomic import atomic_path
    from dari.federation.consortium.engine import on_engine
    from dari.federation.consortium.jobs import train_on
    from dari.federation.flower.grants import (
        GrantChecker,
        HubStoreGrantChecker,
        SyntheticOnlyGrantChecker,
        is_synthetic_site,
    )
    from dari.federation.flower.simulation import site_ids
    from dari.federation.flower.train_simulation import build_training, run_training, write_trained_model
    from dari.models.reference import reference_model_paths

    with guarded():
        if strategy not in ("fedavg", "fedprox"):
            raise InputError(f"--strategy must be fedavg or fedprox, got {strategy!r}")
        chosen: Literal["fedavg", "fedprox"] = "fedprox" if strategy == "fedprox" else "fedavg"
        if hub_db is not None and no_governance:
            raise InputError("give only one of --hub-db or --no-governance")
        checker: GrantChecker
        if hub_db is None:
            real = [str(s) for s in sites if not is_synthetic_site(s)]
            if real:
                raise InputError(f"training without a hub grant is allowed only on synthetic sites: {', '.join(real)}")
            checker = SyntheticOnlyGrantChecker({f"{s}-cdm": f for s, f in zip(site_ids(sites), sites, strict=True)})
        else:
            checker = HubStoreGrantChecker.from_url(hub_db)
        request = build_training(
            sites,
            spec or reference_model_paths().spec,
            requester=requester,
            strategy=chosen,
            rounds=rounds,
            local_steps=local_steps,
            proximal_mu=proximal_mu,
            secure_aggregation=secure_aggregation,
        )
        if dp_noise_multiplier is not None:
            from dari.training.dp import DpSettings

            dp = DpSettings(noise_multiplier=dp_noise_multiplier, clipping_norm=dp_clipping_norm, delta=dp_delta)
            request = request.model_copy(update={"dp": dp})
        started = time.monotonic()
        run, engine = on_engine(
            sites,
            hub_db,
            lambda: run_training(
                sites, request, grant_checker=checker, hub_store=hub_db, progress=step_printer("train")
            ),
            # SecAgg+ is exercised on the simulation engine only: a secure job does not go to the consortium.
            None if secure_aggregation else lambda state: train_on(state, request, hub_store=hub_db),
        )
        model_path, spec_path = write_trained_model(run, request, out)
        with atomic_path(out / "training.json") as tmp:
            tmp.write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if run.privacy is not None:
            privacy = run.privacy
            err.print(f"[dim]train[/] differential privacy: ε = {privacy.epsilon:.3f}, δ = {privacy.delta:g}")
            if hub_db is not None:
                _audit_privacy(hub_db, requester, run.job_id, privacy.model_dump())
        err.print(
            f"[dim]train[/] {chosen}, {rounds} rounds ({engine}) in {time.monotonic() - started:.1f} s; trained by "
            f"{', '.join(run.trained_by) or 'no site'}; model {model_path}, spec {spec_path}"
        )
        typer.echo(json.dumps({"model": str(model_path), "spec": str(spec_path), "trained_by": run.trained_by}))


def _audit_privacy(hub_db: Path, requester: str, job_id: str, privacy: dict[str, object]) -> None:
    """The training's (ε, δ) in the hub's audit log (the sites' own logs hold each round's spend)."""
    from dari.hub import audit
    from dari.hub.db.engine import make_engine, session_factory

    with session_factory(make_engine(hub_db))() as session, session.begin():
        audit.record(session, actor=requester, action="training.privacy", target=f"job:{job_id}", detail=privacy)
