"""`dari imaging …`: synthetic studies per site, the site's PACS (Orthanc), loading it, federated validation."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from dari.cli.console import OutputFormat, err, guarded, out

app = typer.Typer(
    help="Imaging: synthetic studies, the site's PACS (Orthanc, DICOMweb, DIMSE), federated validation.",
    no_args_is_help=True,
)
pacs_app = typer.Typer(help="The site's PACS: a real Orthanc with DICOMweb on loopback.", no_args_is_help=True)
app.add_typer(pacs_app, name="pacs")

SiteOption = Annotated[Path, typer.Option("--site", help="The site folder (site-N/, as `dari synth` writes it).")]


def _emit(data: dict[str, Any], output: OutputFormat) -> None:
    if output == "json":
        out.print_json(json.dumps(data, allow_nan=True))
    else:
        for key, value in data.items():
            out.print(f"{key}: {value}")


@app.command("synth")
def synth(
    site: SiteOption,
    studies: Annotated[int, typer.Option(min=1, max=100_000, help="Studies to generate.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same studies.")] = 7,
    output: Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")] = "table",
) -> None:
    """Write synthetic DICOM studies of the site's patients to SITE/imaging/ (ground truth in truth.csv)."""
    with guarded():
        from collections import Counter

        from dari.imaging.synth import synth_site_studies

        rows = synth_site_studies(site, studies, seed=seed)
        _emit(
            {
                "site": site.name,
                "studies": len(rows),
                "with_lesion": sum(r.lesion for r in rows),
                "burned_in_text": sum(r.burned_in for r in rows),
                "scanners": dict(Counter(r.scanner for r in rows)),
                "folder": str(site / "imaging"),
            },
            output,
        )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@pacs_app.command("serve")
def pacs_serve(site: SiteOption) -> None:
    """Run the site's Orthanc (SITE/pacs/) in the foreground until interrupted; credentials stay in its 0600 file."""
    with guarded():
        from dari.imaging.pacs import OrthancServer, PacsError

        root = site / "pacs"
        try:
            server = OrthancServer.from_config(root)
        except PacsError:
            server = OrthancServer(root, name=f"dari-{site.name}")
        with server:
            where = f"{server.dicomweb_url} (DICOM {server.aet}@127.0.0.1:{server.dicom_port})"
            err.print(f"Orthanc for {site.name}: {where}")
            err.print(f"credentials in {server.config_path} (mode 600); Ctrl-C stops it")
            signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends it as Ctrl-C does
            try:
                while server.running:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                err.print("stopping Orthanc")


@pacs_app.command("status")
def pacs_status(
    site: SiteOption,
    output: Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")] = "table",
) -> None:
    """Whether the site's Orthanc answers, its version and what it stores."""
    with guarded():
        from dari.imaging.pacs import OrthancServer

        _emit(OrthancServer.from_config(site / "pacs").health(), output)


@app.command("load")
def load(
    site: SiteOption,
    output: Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")] = "table",
) -> None:
    """Store the site's synthetic studies into its running PACS (STOW-RS); the files are only read."""
    with guarded():
        from dari.imaging.dicomweb import PacsClient
        from dari.imaging.loading import load_studies
        from dari.imaging.pacs import OrthancServer

        result = load_studies(site, PacsClient.for_server(OrthancServer.from_config(site / "pacs")))
        _emit({"site": site.name, "stored": len(result.stored)}, output)


@app.command("validate")
def validate(
    sites: Annotated[list[Path], typer.Argument(help="Site folders, each with its PACS running (`pacs serve`).")],
    requester: Annotated[str, typer.Option(help="Who asks (the grant's holder).")] = "researcher",
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Declared decision threshold.")] = 0.5,
    min_cell: Annotated[int, typer.Option(min=1, help="Minimum cell size of every released count.")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results (and imaging.json) here.")] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="`reference` (the shipped chest-radiograph model), `matched-filter` (an untrained classical "
            "detector, the baseline) or an imaging model folder (model.onnx, spec.json, card.json).",
        ),
    ] = "reference",
) -> None:
    """Validate an imaging model on every site's PACS with the federated engine; only aggregates leave each site."""
    with guarded():
        from dari.atomic import atomic_path
        from dari.cli.validate import result_json
        from dari.disclosure import DisclosureRules
        from dari.imaging.scoring import ImageScorer, MatchedFilterScorer, ModelScorer
        from dari.imaging.validation_apps import run_imaging_validation

        started = time.perf_counter()
        from dari.imaging.model import reference_folder

        scorer: ImageScorer
        if model == "matched-filter":
            scorer = MatchedFilterScorer()
        else:
            scorer = ModelScorer.load(reference_folder() if model == "reference" else Path(model))
        imaging = run_imaging_validation(
            sites,
            scorer,
            requester=requester,
            threshold=threshold,
            rules=DisclosureRules(min_cell=min_cell),
            progress=lambda msg: err.print(msg),
        )
        run = imaging.run
        summary = {
            "covered": list(run.covered),
            "refused": list(run.refused),
            "failed": list(run.failed),
            "pooled_auroc": run.pooled.auroc.estimate if run.pooled else None,
            "sensitivity_at_fp_per_image": {
                s: {f"{p.fp_per_image:g}": round(p.sensitivity, 3) for p in points}
                for s, points in imaging.sensitivity_at_fp.items()
            },
            "seconds": round(time.perf_counter() - started, 1),
        }
        if json_out is not None:
            with atomic_path(json_out) as tmp:
                tmp.write_text(json.dumps(result_json(run, None, threshold=threshold), allow_nan=True), "utf-8")
            with atomic_path(json_out.with_name("imaging.json")) as tmp:
                tmp.write_text(imaging.model_dump_json(indent=2), encoding="utf-8")
        out.print_json(json.dumps(summary, allow_nan=True))
