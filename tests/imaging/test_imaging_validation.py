"""Federated imaging validation through Flower with a real Orthanc per site: the federated figures equal the
centralised computation on the same images; only aggregates come back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from pacs_orthanc import running_orthanc
from pacs_sites import make_site

from dari.disclosure import DisclosureRules
from dari.federation.site_audit import SiteAuditLog
from dari.imaging.dicomweb import PacsClient
from dari.imaging.froc import sensitivity_at_fp_rows
from dari.imaging.loading import ensure_deid_key, load_studies
from dari.imaging.model import reference_folder
from dari.imaging.scoring import ModelScorer
from dari.imaging.synth import synth_site_studies
from dari.imaging.validation_apps import run_imaging_validation
from dari.imaging.validation_job import ImagingScope, ImagingValidationRun
from dari.imaging.validation_site import DEID_KEY, PACS_DIR, reference_labels, score_pacs, site_pacs
from dari.privacy.dicom.keyfile import read_key_file
from dari.validation import ValidationSpec, centralised_pooled_metrics

RULES = DisclosureRules(min_cell=5, rounding_base=1)
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    root = tmp_path_factory.mktemp("imaging-validation")
    with ExitStack() as stack:
        folders, servers = [], []
        for site in ("site-1", "site-2", "site-3"):
            folder = make_site(root / site, 60)
            synth_site_studies(folder, 36, seed=5)
            ensure_deid_key(folder, DEID_KEY)
            pacs = stack.enter_context(running_orthanc(folder / PACS_DIR))
            load_studies(folder, PacsClient.for_server(pacs))
            folders.append(folder)
            servers.append(pacs)
        yield folders
        for server in servers:  # all three shut down together
            server.request_stop()


@pytest.fixture(scope="module")
def run(sites: list[Path]) -> ImagingValidationRun:
    # The shipped reference model (ONNX Runtime, its image spec), as `dari imaging validate` uses by default.
    return run_imaging_validation(
        sites, ModelScorer.load(reference_folder()), requester="researcher", threshold=THRESHOLD, rules=RULES
    )


def test_imaging_validation_federated_equals_centralised(run: ImagingValidationRun, sites: list[Path]) -> None:
    # Prepare: the same images scored in one place (synthetic data only)
    scorer, scope = ModelScorer.load(reference_folder()), ImagingScope()
    rows = [score_pacs(site_pacs(f), scope, scorer, read_key_file(f / DEID_KEY), reference_labels(f)) for f in sites]
    y, p = np.concatenate([r.y for r in rows]), np.concatenate([r.p for r in rows])

    # Execute
    central = centralised_pooled_metrics(y, p, ValidationSpec(threshold=THRESHOLD), sites=3)
    central_points = sensitivity_at_fp_rows(y, p, (0.05, 0.1, 0.2))

    # Assert
    pooled = run.run.pooled
    assert run.run.covered == ("site-1", "site-2", "site-3") and pooled is not None
    assert pooled.n == central.n and pooled.events == central.events
    assert abs(pooled.brier.brier - central.brier.brier) < 1e-12
    # Cross-site pairs are read from the released bins (at least 5 per class here): within the bound of the pairs
    # whose bins overlap (each such pair's concordance lies anywhere in [0, 1]); same-site pairs are exact.
    assert abs(pooled.auroc.estimate - central.auroc.estimate) <= _cross_site_bound(run)
    assert abs(pooled.calibration_slope.estimate - central.calibration_slope.estimate) < 1e-6
    assert abs(pooled.citl.estimate - central.citl.estimate) < 1e-6
    fed_counts, cen_counts = pooled.threshold.counts, central.threshold.counts
    if pooled.threshold_exact:  # every site kept a bin edge at the threshold: the 2×2 table is exact
        assert fed_counts == cen_counts
    else:  # an anchor dropped for a small cell: read inside a bin
        assert abs(fed_counts.tp - cen_counts.tp) <= 3 and abs(fed_counts.fp - cen_counts.fp) <= 3
    federated_points = run.sensitivity_at_fp["pooled"]
    positives = central.events
    for fed, cen in zip(federated_points, central_points, strict=True):
        # The operating point is found on released bins (≥ 5 of the 31 positives each), so the federated and the
        # row-level thresholds can fall up to two bins apart at these small sites: approximate, not exact.
        assert abs(fed.sensitivity - cen.sensitivity) <= 2 * RULES.min_cell / positives


def test_imaging_validation_releases_aggregates_with_subgroups(run: ImagingValidationRun, sites: list[Path]) -> None:
    # Execute
    text = run.model_dump_json()
    report = run.run.sites["site-2"]

    # Assert: manufacturer and pixel-spacing subgroups; no identifier, UID or row in what came back
    assert [v.variable for v in report.subgroups] == ["manufacturer", "pixel_spacing"]
    assert "FUJIFILM Corporation" in text
    assert "5010" not in text and "2.25." not in text and "KIM" not in text
    from dari.cli.validate import result_json
    from dari.reports.results_file import parse_results

    doc = json.loads(json.dumps(result_json(run.run, None, threshold=THRESHOLD), allow_nan=True))
    assert parse_results(doc, source="results.json") is not None  # the validation report reads it as a tabular run
    entries = SiteAuditLog(sites[0]).entries()
    assert any(e["event"] == "job.admit" for e in entries) and any(e["event"] == "imaging.images" for e in entries)


def _cross_site_bound(run: ImagingValidationRun) -> float:
    """The largest error of the pooled AUROC that released histograms allow: overlapping cross-site pairs / pairs."""
    hists = {s: r.statistics.histogram for s, r in run.run.sites.items() if r.statistics is not None}
    overlapping, positives, negatives = 0, 0, 0
    for site, h in hists.items():
        positives += sum(h.positives.counts)
        negatives += sum(h.negatives.counts)
        for other, g in hists.items():
            if other == site:
                continue
            pe, ne = h.positives.edges, g.negatives.edges
            for i, cp in enumerate(h.positives.counts):
                for j, cn in enumerate(g.negatives.counts):
                    if pe[i] < ne[j + 1] and ne[j] < pe[i + 1]:
                        overlapping += cp * cn
    return overlapping / (positives * negatives)
