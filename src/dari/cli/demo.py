"""`dari demo`: build a small network, pseudonymise each site, show what each holds, publish to a demo hub, validate
the reference model across the sites, then deploy it at site-1 and watch it in (replayed) use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, cast

import typer

from dari.catalog.characterise import characterise
from dari.catalog.dataset import describe
from dari.cdm.store import open_store
from dari.cdm.summary import summarise
from dari.cli.cdm import render_summary
from dari.cli.console import err, guarded, out, progress_bar
from dari.cli.demo_care import care_demo
from dari.cli.demo_training import train_demo
from dari.cli.demo_validation import econ_demo, report_demo, validate_demo_sites
from dari.cli.synth import render_results
from dari.hub.demo_setup import build_demo_hub
from dari.hub.publication import Publication
from dari.privacy.ingest import PseudonymisationRecord, run_ingest
from dari.privacy.keys import create_key_file
from dari.quality import run_checks
from dari.synth.network import generate_network


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo network goes.")] = Path("demo-data"),
    patients_per_site: Annotated[int, typer.Option(min=100, help="Patients per hospital.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Build a three-hospital network; pseudonymise each site into its OMOP CDM; check and summarise it."""
    start = time.perf_counter()
    with guarded():
        with progress_bar() as bar:
            tasks = {f"site-{i}": bar.add_task(f"site-{i}", total=patients_per_site) for i in (1, 2, 3)}
            results = generate_network(
                out_dir,
                sites=3,
                patients_per_site=patients_per_site,
                seed=seed,
                advance=lambda site, n: bar.advance(tasks[site], n),
            )
        render_results(results, time.perf_counter() - start)
        publications: dict[str, Publication] = {}
        for r in results:
            # Each site under its own key, kept beside (not inside) the site folders, as a hospital would.
            key = out_dir / "keys" / f"{r.profile.site_id}.key"
            if not key.exists():
                create_key_file(key)
            _report, record = run_ingest(r.folder, key)
            store = open_store(r.folder)
            try:
                summary = summarise(store)
                quality = run_checks(store)
                characterisation = characterise(store)
                dataset = describe(
                    store,
                    characterisation,
                    identifier=f"{r.profile.site_id}-cdm",
                    quality_score=quality.summary.overall_score,
                )
            finally:
                store.close()
            publications[r.profile.site_id] = Publication(
                record=dataset, characterisation=characterisation, quality_score=quality.summary.overall_score
            )
            summary.label = f"{r.profile.site_id} · {r.profile.name_ko} ({r.profile.name_en})"
            render_summary(summary)
            score = quality.summary.overall_score
            out.print(
                f"  data quality: {score if score is not None else float('nan'):.1f} % of checks passed "
                f"({quality.summary.passed} passed, {quality.summary.failed} failed)"
            )
            out.print(_risk_line(record))
        hub = build_demo_hub(out_dir, publications)
    out.print(
        f"hub: {len(publications)} sites published to the catalog; application {hub.application_id} approved by the "
        f"DRBs of site-1 and site-2 (quorum 2) → grant {hub.grant_id}"
    )
    out.print("federated validation of the reference CKD-progression model (Flower simulation engine):")
    with guarded():
        validate_demo_sites(out_dir, [r.folder for r in results], hub.database)
        report_paths = report_demo(out_dir / "validation" / "results.json", out_dir / "validation")
        folders = {r.profile.site_id: r.folder for r in results}
        care = care_demo(out_dir, hub, folders["site-1"], out_dir / "validation" / "results.json")
    connected = " ".join(f"--site-folder {r.folder}" for r in results)  # the cohort builder counts at these sites
    out.print(f"portal: dari hub serve --db {hub.database} --insecure-cookies {connected}  →  http://127.0.0.1:8700/")
    out.print(
        f"demo logins (password {hub.password}, also in {hub.logins_file}): researcher, drb1, drb2a, drb2b, drb3, "
        "steward1-3, admin, vendor, clinician, approver1"
    )
    err.print(
        f"demo network in {out_dir}/ — try: dari cdm check {out_dir}/site-1, "
        f"open {out_dir}/site-1/reports/pseudonymisation.html"
    )
    out.print(f"validation report: {report_paths[0]} (also {', '.join(p.name for p in report_paths[1:])})")
    if care is not None:
        out.print(f"monitoring: {care.portal_url}  (log in as steward1, approver1 or admin)", soft_wrap=True)
    out.print("federated training at site-1 and site-2, external validation at site-3 (Flower simulation engine):")
    with guarded():
        train_demo(out_dir, folders, hub.database)
    with guarded():  # last: the payer's question, answered with the accuracy just validated
        econ_demo(out_dir / "validation" / "results.json", out_dir / "econ")


def _risk_line(record: PseudonymisationRecord) -> str:
    """One line on the site's re-identification risk, from its pseudonymisation record."""
    before, after = record.risk_before.get("k"), record.risk_after.get("k")
    line = f"  pseudonymised: k-anonymity {before} before, {after} after the policy"
    review = record.k_review
    if review:
        qis = cast(list[dict[str, object]], review["quasi_identifiers"])
        levels = ", ".join(f"{q['column']}: {q['level_en']}" for q in qis if q["level"])
        line += f" (k={record.k_target} needs {levels}; {review['suppressed']} suppressed)"
    return line
