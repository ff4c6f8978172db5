"""Image-level drift from the gateway's site-only facts: intensity, spacing, score and manufacturer mix, through
the existing monitoring's PSI/KS; a stable window stays stable, a new scanner and its intensities are flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dari.imaging.image_drift import FactsStore, image_drift, image_reference


def _add(store: FactsStore, rng: np.random.Generator, n: int, maker: str, mean: float, spacing: float) -> None:
    store.add_many([
        {"inference_id": f"{rng.integers(1 << 60):x}", "model_sha256": "a" * 64, "manufacturer": maker,
         "pixel_spacing_mm": spacing, "intensity_mean": float(rng.normal(mean, 50)),
         "intensity_std": float(rng.normal(400, 20)), "score": float(rng.beta(1, 8))}
        for _ in range(n)
    ])  # fmt: skip


def test_gateway_drift_stable_then_new_scanner(tmp_path: Path) -> None:
    # Prepare: validation facts of site-1's two detectors; a like window; a window from a new 8-bit detector
    rng = np.random.default_rng(3)
    ref_store, same_store, new_store = (FactsStore(tmp_path / f"{n}.db") for n in ("ref", "same", "new"))
    _add(ref_store, rng, 300, "Samsung Electronics", 1500, 1.0)
    _add(ref_store, rng, 300, "Siemens Healthineers", 1500, 1.25)
    _add(same_store, rng, 150, "Samsung Electronics", 1500, 1.0)
    _add(same_store, rng, 150, "Siemens Healthineers", 1500, 1.25)
    _add(new_store, rng, 300, "Carestream Health", 120, 2.0)
    # Execute
    reference = image_reference(ref_store.rows())
    stable = {r.name: r for r in image_drift(reference, same_store.rows())}
    shifted = {r.name: r for r in image_drift(reference, new_store.rows())}
    # Assert
    assert not any(r.drifted for r in stable.values()), stable
    assert shifted["manufacturer"].drifted and shifted["intensity_mean"].drifted
    assert shifted["pixel_spacing_mm"].drifted and not shifted["score"].drifted
    for store in (ref_store, same_store, new_store):
        store.close()
