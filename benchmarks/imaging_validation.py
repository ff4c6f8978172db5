"""Federated imaging validation end to end: 3 sites × N studies (default 500), a real Orthanc per site.

    .venv/bin/python benchmarks/imaging_validation.py [N] [--sites-from DIR]

Without --sites-from it generates a 3-hospital network (`dari synth`, 900 patients per site so every study has its
own patient) into a temporary folder. Then per site: synthetic studies (`dari imaging synth`), Orthanc started,
studies stored (STOW-RS). Timed apart: the validation itself, from the job leaving the hub to the pooled run: each
site's QIDO-RS, WADO-RS of every image, checks, de-identification, scoring, protected statistics, the Newton rounds
of calibration, pooling and meta-analysis, in Flower's simulation engine (its Ray start-up included). Target of
issue 19: < 120 s for 3 × 500 on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from dari.imaging.dicomweb import PacsClient
from dari.imaging.loading import ensure_deid_key, load_studies
from dari.imaging.pacs import OrthancServer
from dari.imaging.scoring import MatchedFilterScorer
from dari.imaging.synth import synth_site_studies
from dari.imaging.validation_apps import run_imaging_validation
from dari.imaging.validation_site import DEID_KEY, PACS_DIR

TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("studies", nargs="?", type=int, default=500)
    parser.add_argument("--sites-from", type=Path, default=None, help="folder with site-1..3 from `dari synth`")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dari-imaging-bench-"))
    try:
        if args.sites_from is None:
            from dari.synth.network import generate_network

            started = time.perf_counter()
            generate_network(work, sites=3, patients_per_site=max(900, 2 * args.studies), seed=7)
            print(f"network generated in {time.perf_counter() - started:.1f} s")
            root = work
        else:
            root = args.sites_from
        sites = [root / f"site-{i}" for i in (1, 2, 3)]
        with ExitStack() as stack:
            started = time.perf_counter()
            for site in sites:
                synth_site_studies(site, args.studies, seed=7)
                ensure_deid_key(site, DEID_KEY)
                shutil.rmtree(site / PACS_DIR, ignore_errors=True)
                server = stack.enter_context(OrthancServer(site / PACS_DIR, name=f"bench-{site.name}"))
                load_studies(site, PacsClient.for_server(server))
            print(f"studies generated and stored in 3 PACS in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            run = run_imaging_validation(sites, MatchedFilterScorer(), requester="bench", threshold=0.5)
            seconds = time.perf_counter() - started
        pooled = run.run.pooled
        print(f"covered {run.run.covered}; pooled n {pooled.n if pooled else 0}, AUROC "
              f"{pooled.auroc.estimate if pooled else float('nan'):.3f}")  # fmt: skip
        label = f"federated imaging validation, 3 sites × {args.studies} studies"
        print(f"{label}: {seconds:.1f} s  (target < {TARGET_S:.0f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
