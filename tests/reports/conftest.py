"""Fixtures of the report tests: a results.json built from dari.validation on synthetic numbers (no Flower run)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dari.cli.validate import result_json
from dari.disclosure import DisclosureRules, protect_count
from dari.federation.flower.jobs import SiteReport, ValidationRun
from dari.models.model_card import load_card
from dari.models.reference import reference_model_paths
from dari.validation import (
    UndefinedMetricWarning,
    ValidationSpec,
    age_bands,
    evaluate,
    evaluate_subgroups,
    federated_pooled_metrics,
    meta_analyse,
    meta_analyse_auroc,
    meta_analyse_subgroups,
    protect_metrics,
    site_sufficient_statistics,
)

# report_pages.py sits beside this file; --import-mode=importlib keeps test folders off sys.path, so add this one
sys.path.insert(0, str(Path(__file__).parent))

#: A site's true (unsuppressed) sensitivity is written here so a test can check it never appears.
SUPPRESSED_MARK = "site-3"


def _site(rng: np.random.Generator, n: int, shift: float, prevalence: float) -> dict[str, Any]:
    y = (rng.random(n) < prevalence).astype(np.int64)
    lp = shift + rng.normal(size=n) + 1.6 * y + 0.3 * rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-lp))
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    age = rng.integers(40, 95, size=n)
    return {"y": y, "p": p, "groups": {"sex": sex, "age_band": age_bands(age, top=80)}}


def build_results() -> dict[str, Any]:
    """Three ok sites (one with its 2×2 table withheld), one refused and one failed; pooled and meta-analysis."""
    rng = np.random.default_rng(11)
    spec, rules = ValidationSpec(threshold=0.3), DisclosureRules()
    data = {
        "site-1": _site(rng, 3000, -1.8, 0.15),
        "site-2": _site(rng, 2500, -1.2, 0.25),
        "site-3": _site(rng, 400, -3.5, 0.05),  # few events: some cells small, some subgroups suppressed
    }
    sites: dict[str, SiteReport] = {}
    subgroups: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for s, d in data.items():
            m = protect_metrics(evaluate(d["y"], d["p"], spec), rules)
            stats = site_sufficient_statistics(d["y"], d["p"], spec, rules)
            sites[s] = SiteReport(
                site_id=s,
                dataset_id=f"{s}-cdm",
                status="ok",
                grant_id="grant-0042",
                model_sha256=load_card(reference_model_paths().card).model_sha256,
                cohort=protect_count(len(d["y"]), rules),
                unscored=protect_count(3, rules),
                metrics=m,
                statistics=stats,
            )
            sg = evaluate_subgroups(d["y"], d["p"], d["groups"], spec, rules)
            sites[s] = sites[s].model_copy(update={"subgroups": tuple(sg)})
            subgroups[s] = [v.model_dump(mode="json") for v in sg]
        pooled = federated_pooled_metrics([(d["y"], d["p"]) for d in data.values()], spec, rules)
        covered = tuple(data)
        meta = {
            "auroc": meta_analyse_auroc({s: r.metrics.auroc for s, r in sites.items() if r.metrics}),
            "calibration_slope": meta_analyse({s: r.metrics.calibration.slope for s, r in sites.items() if r.metrics}),
            "calibration_in_the_large": meta_analyse(
                {s: r.metrics.calibration.citl for s, r in sites.items() if r.metrics}
            ),
        }
    sites["site-4"] = SiteReport(
        site_id="site-4", dataset_id="site-4-cdm", status="refused", reason="no grant: expired"
    )
    sites["site-5"] = SiteReport(
        site_id="site-5", dataset_id="site-5-cdm", status="failed", reason="StoreError: cannot open cdm.duckdb"
    )
    run = ValidationRun(
        job_id="job-test0001",
        model_sha256=load_card(reference_model_paths().card).model_sha256,
        requester="researcher",
        sites=sites,
        covered=covered,
        refused=("site-4",),
        failed=("site-5",),
        pooled=pooled,
        meta_analysis=meta,
        subgroup_meta=meta_analyse_subgroups({s: sites[s].subgroups for s in covered}),
        engine="simulation",
        wall_seconds=12.5,
    )
    doc = result_json(run, None)
    doc["subgroups"] = subgroups
    return doc


@pytest.fixture(scope="session")
def results_doc() -> dict[str, Any]:
    """The results document (as `dari validate --json` writes it, plus per-site subgroups)."""
    return build_results()


@pytest.fixture(scope="session")
def results_file(tmp_path_factory: pytest.TempPathFactory, results_doc: dict[str, Any]) -> Path:
    """results.json on disk."""
    path = tmp_path_factory.mktemp("report-in") / "results.json"
    path.write_text(json.dumps(results_doc, indent=2, allow_nan=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def cli_report(results_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """`dari report --lang both` run once (CLI result, output folder), shared by the CLI and page tests."""
    import typer
    from typer.testing import CliRunner

    from dari.cli.report import report

    app = typer.Typer()
    app.command()(report)
    out = tmp_path_factory.mktemp("report-out") / "rep"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing")  # a box instead of a glyph fails the run
        res = CliRunner().invoke(app, ["--results", str(results_file), "--out", str(out), "--lang", "both"])
    return res, out
