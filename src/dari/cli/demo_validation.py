"""The demo's last step: validate the reference model across the demo sites under the demo hub's grant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dari.atomic import atomic_path
from dari.cli.console import out


def validate_demo_sites(out_dir: Path, sites: list[Path], hub_db: Path, *, threshold: float = 0.2) -> dict[str, Any]:
    """Federated validation of the reference model as the demo researcher; writes results.json, prints each site."""
    from dari.cli.validate import result_json
    from dari.federation.flower.grants import HubStoreGrantChecker
    from dari.federation.flower.simulation import run_validation
    from dari.models.reference import reference_model_paths

    paths = reference_model_paths()
    run = run_validation(
        sites,
        paths.model,
        paths.spec,
        grant_checker=HubStoreGrantChecker.from_url(hub_db),
        requester="researcher",
        threshold=threshold,
        hub_store=hub_db,  # the demo hub's key signs the job's tickets; the demo sites trust it
    )
    doc = result_json(run, None)
    target = out_dir / "validation" / "results.json"
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for site, entry in doc["sites"].items():
        if entry["status"] == "ok":
            lo, hi = entry["auroc_ci"]
            out.print(
                f"  {site}: n={entry['n']} events={entry['events']} AUROC {entry['auroc']:.3f} ({lo:.3f}–{hi:.3f}), "
                f"calibration slope {entry['calibration_slope']:.2f}, intercept {entry['calibration_intercept']:+.2f}"
            )
        else:
            out.print(f"  {site}: {entry['status']} — {entry['reason']}")
    pooled = doc["pooled"]
    if pooled:
        out.print(
            f"  pooled over {', '.join(pooled['sites'])}: AUROC {pooled['auroc']:.3f}, "
            f"slope {pooled['calibration_slope']:.2f} (from site aggregates only)"
        )
    out.print(f"  results: {target}")
    return doc


def report_demo(results: Path, out_dir: Path) -> list[Path]:
    """The multicenter validation report of the demo run, in Korean and English (HTML and PDF)."""
    from dari.models.model_card import load_card
    from dari.models.reference import reference_model_paths
    from dari.reports import load_results, render_report, write_report

    inputs = load_results(results)
    card = load_card(reference_model_paths().card)
    return [p for lang in ("ko", "en") for p in write_report(render_report(inputs, card, lang), out_dir)]


def econ_demo(results: Path, out_dir: Path, *, psa: int = 300) -> dict[str, Any]:
    """Cost-effectiveness of AI-assisted CKD screening with the accuracy the demo validation just measured."""
    from importlib import resources

    from dari.econ.analysis import analyse
    from dari.econ.dossier import assemble
    from dari.econ.dossier import render as render_dossier
    from dari.econ.loader import load_model
    from dari.econ.report import render, write
    from dari.econ.validation import apply_validation, load_validation
    from dari.models.reference import reference_model_paths

    model = Path(str(resources.files("dari.econ") / "examples" / "ckd_ai_screening.toml"))
    spec = apply_validation(load_model(model), load_validation(results), str(results))
    analysis = analyse(spec, psa_iterations=psa, seed=7)
    write(render(analysis), out_dir)
    doc = analysis.to_dict()
    # the payer's document: the reference model's card, its validation and this evaluation, bound and traced
    bound = assemble(reference_model_paths().card, results, out_dir / "results.json")
    write(render_dossier(bound), out_dir.parent / "dossier")
    out.print(
        f"econ report: {out_dir / 'report.html'}; evidence dossier: {out_dir.parent / 'dossier' / 'dossier.html'}"
    )
    p = {k: spec.parameters[k].value for k in ("sens_ai", "spec_ai", "prev_hr")}
    cmp = doc["comparison"]
    icer = "undefined (no QALY difference)" if cmp["icer"] is None else f"{cmp['icer']:,.0f} KRW/QALY"
    out.print(
        f"economic evaluation with the validated pooled accuracy (sensitivity {p['sens_ai']:.3f}, specificity "
        f"{p['spec_ai']:.3f}, prevalence {p['prev_hr']:.3f}): ΔC {cmp['incremental_cost']:,.0f} KRW, "
        f"ΔQALY {cmp['incremental_qaly']:.4f}, ICER {icer}"
    )
    if "psa" in doc:
        prob = doc["psa"]["probability_cost_effective_at_wtp"][cmp["intervention"]]
        out.print(f"  P(cost-effective at {doc['wtp']:,.0f} KRW/QALY) = {prob:.2f} over {psa} PSA draws")
    return doc
