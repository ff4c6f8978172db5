"""`dari imaging-gateway …`: score new PACS images with the deployed imaging model; SR, overlay, FHIR, worklist."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from dari.cli.console import OutputFormat, err, guarded, out

app = typer.Typer(
    help="Imaging gateway: new PACS images scored by the deployed model; SR, heatmap, FHIR, priority.",
    no_args_is_help=True,
)


def _model(model: str) -> Any:
    from dari.imaging.model import ImagingModel

    return ImagingModel.reference() if model == "reference" else ImagingModel.load(Path(model))


@app.command("score")
def score(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A DICOM image file.")],
    model: Annotated[str, typer.Option(help="'reference' or an imaging model folder.")] = "reference",
    output: Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")] = "table",
) -> None:
    """Score one DICOM file locally (nothing is written): the score, the finding, where, or why it is refused."""
    from dari.imaging.preprocess import read_dataset

    with guarded():
        m = _model(model)
        result = m.score(read_dataset(file), name=str(file))
        data = {
            "model": m.name,
            "score": round(result.score, 4),
            "threshold": m.spec.threshold,
            "finding": result.finding,
            "peak_column_row": [round(v, 1) for v in result.peak_source],
            "inference_ms": round(result.inference_ms, 2),
        }
        if output == "json":
            out.print_json(json.dumps(data))
        else:
            for key, value in data.items():
                out.print(f"{key}: {value}")


@app.command("serve")
def serve(
    site: Annotated[Path, typer.Option(file_okay=False, help="The site folder; its PACS runs from SITE/pacs.")],
    deployment: Annotated[
        Path,
        typer.Option(
            file_okay=False, help="Deployment folder (deployment.json; model.onnx, spec.json, card.json or --model)."
        ),
    ],
    hub_db: Annotated[str | None, typer.Option(help="Gate source: the hub store (SQLite file or URL).")] = None,
    hub_url: Annotated[str | None, typer.Option(help="Gate source: the hub's root URL (https; REST API).")] = None,
    hub_token_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="File holding the hub API token (with --hub-url).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="'reference' or a model folder, when not in --deployment.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Audit, FHIR Bundles, worklist.json.")] = Path("gateway"),
    interval_s: Annotated[float, typer.Option(min=0.05, max=60, help="Change-feed poll interval (seconds).")] = 1.0,
    from_start: Annotated[bool, typer.Option(help="Also score what the PACS held before the first start.")] = False,
    once: Annotated[bool, typer.Option(help="Handle what is in the feed now, then exit.")] = False,
) -> None:
    """Poll the site PACS's change feed; score new images with the deployed model while the hub approves it."""
    from dari.care.deployment_gate import DeploymentManifest, close_gate, open_gate
    from dari.errors import InputError
    from dari.imaging.gateway import ImagingGateway
    from dari.imaging.pacs import OrthancServer

    with guarded():
        manifest = DeploymentManifest.load(deployment)
        m = _model(model) if model else _model(str(deployment))
        if m.sha256 != manifest.model_sha256:
            raise InputError("the model is not the one the deployment approves (SHA-256 differs)", file=str(deployment))
        token = hub_token_file.read_text(encoding="utf-8") if hub_token_file else None
        gate = open_gate(manifest, hub_db=hub_db, hub_url=hub_url, hub_token=token)
        gate.start()
        gateway = ImagingGateway(
            OrthancServer.from_config(site / "pacs"), [m], {m.sha256: gate}, out_dir,
            site_id=manifest.site, from_start=from_start,
        )  # fmt: skip
        try:
            if once:
                results = gateway.poll_once()
                counts: dict[str, int] = {}
                for r in results:
                    counts[r.status] = counts.get(r.status, 0) + 1
                out.print_json(json.dumps({"handled": len(results), **counts}))
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            err.print(f"imaging gateway: {m.name} at {manifest.site}, polling every {interval_s} s (Ctrl-C stops)")
            try:
                gateway.serve(stop, interval_s)
            except KeyboardInterrupt:
                stop.set()
        finally:
            gateway.close()
            close_gate(gate)
