"""Clinical notes of a chunk as the extract's clinical_notes rows: which visits get which kind of note."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dari.synth.chunk import SimulatedChunk
from dari.synth.sites import SiteProfile
from dari.synth.visits import EMERGENCY, INPATIENT

NOTE_COLUMNS = ("note_no", "visit_no", "patient_no", "written_at", "note_type", "note_text")


def pick_note_visits(sim: SimulatedChunk, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Visits that get a note and the kind of note: every admission a discharge summary, some others."""
    v = sim.visits
    u = rng.random(v.n)
    ip = np.flatnonzero(v.kind == INPATIENT)
    er = np.flatnonzero((v.kind == EMERGENCY) & (u < 0.3))
    op = np.flatnonzero((v.kind != INPATIENT) & (v.kind != EMERGENCY) & (u < 0.03))
    kinds_op = np.array(["progress", "referral", "consent", "radiology", "nursing", "mixed"], dtype=object)
    visit = np.concatenate([ip, er, op])
    kind = np.concatenate([np.full(ip.size, "discharge", dtype=object),
                           rng.choice(np.array(["hp_en", "mixed"], dtype=object), er.size),
                           rng.choice(kinds_op, op.size)])
    order = np.argsort(visit, kind="stable")
    return visit[order], kind[order]


def render_notes(sim: SimulatedChunk, profile: SiteProfile, identity: pa.Table, visit_numbers: np.ndarray,
                 counters: dict[str, int], rng: np.random.Generator) -> pa.Table:
    """clinical_notes rows for the chunk (free text quoting identifiers, as real notes do)."""
    visit, kind = pick_note_visits(sim, rng)
    v = sim.visits
    names = identity["name_ko"].to_numpy(zero_copy_only=False)
    texts = [f"{names[v.person[i]]} 환자 {k} 기록" for i, k in zip(visit, kind, strict=True)]
    start = counters.get("clinical_notes", 1)
    counters["clinical_notes"] = start + visit.size
    minutes = rng.integers(8 * 60, 20 * 60, visit.size)
    stamp = v.end[visit].astype("datetime64[m]") + minutes.astype("timedelta64[m]")
    return pa.table({
        "note_no": np.arange(start, start + visit.size, dtype=np.int64),
        "visit_no": np.asarray(visit_numbers)[visit],
        "patient_no": identity["patient_no"].to_numpy(zero_copy_only=False)[v.person[visit]],
        "written_at": pc.strftime(pa.array(stamp.astype("datetime64[s]"), type=pa.timestamp("s")),
                                  format=f"{profile.date_format} %H:%M"),
        "note_type": kind,
        "note_text": texts,
    })
