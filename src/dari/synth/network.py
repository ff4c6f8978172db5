"""`dari synth`: a network of synthetic hospitals, each with its source extract and its OMOP CDM.

Layout per site (other commands rely on it): OUT/site-N/extract/ (the EMR extract: CSV + manifest.json),
OUT/site-N/cdm.duckdb (the CDM), OUT/site-N/truth/ (evaluation keys that exist only because the data are
synthetic: the true risk behind the CKD-progression outcome; never part of an extract).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dari.atomic import atomic_dir
from dari.etl.pipeline import EXTRACT_DIR, EtlReport, run_etl
from dari.synth.catalogue import LABS, reported
from dari.synth.chunk import SimulatedChunk, simulate
from dari.synth.extract_files import ExtractWriter
from dari.synth.identity import generate_mrns
from dari.synth.notes_extract import render_notes
from dari.synth.render import lab_display_name, render_events, render_patients, sex_codes
from dari.synth.sites import SiteProfile, network_profiles

DEFAULT_CHUNK = 50_000
TRUTH_DIR = "truth"
Advance = Callable[[str, int], None]  # (site_id, patients done in this step)


@dataclass
class SiteResult:
    """What was generated for one site."""

    profile: SiteProfile
    folder: Path
    extract_rows: dict[str, int] = field(default_factory=dict)
    etl: EtlReport | None = None
    cohort: int = 0
    outcomes: int = 0


def site_seed(seed: int, site_id: str) -> np.random.SeedSequence:
    """An independent, reproducible random stream per site (stable when other sites are added)."""
    digest = hashlib.sha256(f"{seed}:{site_id}".encode()).digest()
    return np.random.SeedSequence(int.from_bytes(digest[:16], "big"))


def _truth_table(sim: SimulatedChunk, patient_no: np.ndarray) -> pa.Table:
    c = sim.course
    rows = np.flatnonzero(~np.isnat(c.index_date))
    return pa.table(
        {
            "patient_no": pa.array(patient_no[rows], type=pa.string()),
            "index_date": pa.array(c.index_date[rows], type=pa.date32()),
            "egfr_index": c.egfr_index[rows],
            "true_risk": np.round(c.true_risk[rows], 6),
            "outcome_1y": c.outcome[rows],
        }
    )


def generate_site(
    profile: SiteProfile,
    folder: Path,
    n_patients: int,
    seed: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    advance: Advance | None = None,
) -> SiteResult:
    """Write one site's extract (atomically) and its truth file; the CDM is built separately."""
    ss = site_seed(seed, profile.site_id)
    id_rng = np.random.default_rng(ss.spawn(1)[0])
    all_patient_no = generate_mrns(n_patients, profile.hospital_code, id_rng)
    result = SiteResult(profile=profile, folder=folder)
    counters: dict[str, int] = {}
    truth_parts: list[pa.Table] = []
    chunk_seeds = ss.spawn(1 + (n_patients + chunk_size - 1) // chunk_size)[1:]
    with atomic_dir(folder / EXTRACT_DIR) as tmp, ExtractWriter(tmp, profile) as writer:
        for k, start in enumerate(range(0, n_patients, chunk_size)):
            n = min(chunk_size, n_patients - start)
            rng = np.random.default_rng(chunk_seeds[k])
            sim = simulate(n, profile, rng)
            pno = all_patient_no[start : start + n].astype(object)
            patients, identity = render_patients(sim, profile, pno, rng)
            writer.write("patients", patients)
            events = render_events(sim, profile, pno, counters, rng)
            for name, table in events.items():
                writer.write(name, table)
            visit_numbers = events["visits"]["visit_no"].to_numpy()
            writer.write("clinical_notes", render_notes(sim, profile, identity, visit_numbers, counters, rng))
            truth_parts.append(_truth_table(sim, pno))
            if advance is not None:
                advance(profile.site_id, n)
        writer.write("lab_codes", _lab_codes(profile))
        writer.write_manifest({"sex_codes": sex_codes(profile), "generator": "dari synth", "seed": seed})
        result.extract_rows = dict(writer.rows)
    truth = pa.concat_tables(truth_parts)
    result.cohort = truth.num_rows
    result.outcomes = int(pa.compute.sum(truth["outcome_1y"]).as_py() or 0)
    truth_dir = folder / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(truth, truth_dir / "ckd_progression.csv")
    return result


def _lab_codes(profile: SiteProfile) -> pa.Table:
    reps = [reported(lab, profile.creatinine_unit) for lab in LABS]
    return pa.table(
        {
            "lab_code": [f"{profile.lab_code_prefix}{lab.local_suffix}" for lab in LABS],
            "lab_name": [lab_display_name(lab.loinc) for lab in LABS],
            "loinc": [r.loinc for r in reps],
            "unit": [r.unit for r in reps],
        }
    )


def build_site(
    profile: SiteProfile,
    folder: Path,
    n_patients: int,
    seed: int,
    chunk_size: int,
    *,
    advance: Advance | None = None,
    step: Callable[[str], None] | None = None,
) -> SiteResult:
    """Extract, then CDM, for one site."""
    result = generate_site(profile, folder, n_patients, seed, chunk_size=chunk_size, advance=advance)
    result.etl = run_etl(folder, progress=step)
    return result


def _site_step(on_step: Callable[[str, str], None] | None, site_id: str) -> Callable[[str], None] | None:
    if on_step is None:
        return None
    return lambda msg: on_step(site_id, msg)


def _build_site_in_worker(
    profile: SiteProfile,
    folder: Path,
    n_patients: int,
    seed: int,
    chunk_size: int,
    events: Queue[tuple[str, str, object]],
) -> SiteResult:
    # Callbacks cannot cross processes; progress travels through the manager's queue instead.
    return build_site(
        profile,
        folder,
        n_patients,
        seed,
        chunk_size,
        advance=lambda sid, n: events.put(("advance", sid, n)),
        step=lambda msg: events.put(("step", profile.site_id, msg)),
    )


def generate_network(
    out: Path,
    *,
    sites: int,
    patients_per_site: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK,
    advance: Advance | None = None,
    on_step: Callable[[str, str], None] | None = None,
    workers: int | None = None,
) -> list[SiteResult]:
    """Generate every site's extract and CDM, each site in its own worker process.

    By default every site gets a worker even beyond the number of cores: sites are equal in size, so letting the
    OS share the cores among all of them beats leaving the last site to run alone. Results do not depend on the
    number of workers: each site has its own random stream.
    """
    profiles = network_profiles(sites)
    workers = min(len(profiles), workers or max(len(profiles), 1), 2 * (os.cpu_count() or 1))
    if workers <= 1:
        return [
            build_site(
                p,
                out / p.site_id,
                patients_per_site,
                seed,
                chunk_size,
                advance=advance,
                step=_site_step(on_step, p.site_id),
            )
            for p in profiles
        ]
    ctx = mp.get_context("spawn")  # a clean interpreter per worker: no inherited DuckDB or thread state
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        events: Queue[tuple[str, str, object]] = manager.Queue()
        futures = [
            pool.submit(_build_site_in_worker, p, out / p.site_id, patients_per_site, seed, chunk_size, events)
            for p in profiles
        ]
        while True:
            finished = all(f.done() for f in futures)
            try:
                while True:
                    kind, site, value = events.get(timeout=0.1)
                    if kind == "advance" and advance is not None:
                        advance(site, int(str(value)))
                    elif kind == "step" and on_step is not None:
                        on_step(site, str(value))
            except queue.Empty:
                pass
            if finished:
                break
        return [f.result() for f in futures]
