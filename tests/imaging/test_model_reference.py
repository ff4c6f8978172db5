"""The shipped reference model: pinned by its card, finds site-1's lesions where they are, transfers imperfectly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from imgmodel_images import radiograph

from dari.errors import InputError
from dari.imaging.model import SPEC_FILE, ImagingModel, reference_folder


@pytest.fixture(scope="module")
def model() -> ImagingModel:
    return ImagingModel.reference()


def test_model_reference_tampered_spec_refused(tmp_path: Path) -> None:
    # Prepare: a copy of the model folder whose spec was edited after the card pinned it
    folder = tmp_path / "model"
    shutil.copytree(reference_folder(), folder)
    spec = folder / SPEC_FILE
    spec.write_text(spec.read_text(encoding="utf-8").replace('"threshold": ', '"threshold": 0.0 + '), encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError, match="SHA-256"):
        ImagingModel.load(folder)


def test_model_reference_finds_site1_lesions_where_they_are(model: ImagingModel) -> None:
    # Prepare: held-out site-1 radiographs (another seed than training), with and without a lesion
    lesions = [radiograph("site-1", lesion=True, start=i * 7, seed=99) for i in range(4)]
    normals = [radiograph("site-1", lesion=False, start=i * 7, seed=99) for i in range(4)]
    # Execute
    hits = [model.score(ds) for ds, _ in lesions]
    clear = [model.score(ds) for ds, _ in normals]
    # Assert: lesion images score above normal ones, and the heatmap's peak lies on the lesion
    assert min(h.score for h in hits) > max(c.score for c in clear)
    for result, (_, truth) in zip(hits, lesions, strict=True):
        assert truth.lesion_col is not None and truth.lesion_row is not None and truth.lesion_radius_mm is not None
        distance_mm = np.hypot(result.peak_source[0] - truth.lesion_col, result.peak_source[1] - truth.lesion_row)
        assert distance_mm * truth.pixel_spacing_mm <= truth.lesion_radius_mm + 4.0
        assert 0 < result.inference_ms < 5000


def test_model_reference_card_records_imperfect_transfer(model: ImagingModel) -> None:
    # Assert: the card's external AUROCs (site-2, site-3) are below the development site's, as measured
    by_site = {(p.setting, p.site): p.auroc for p in model.card.performance}
    internal = by_site[("internal_apparent", "site-1")]
    assert internal is not None
    for site in ("site-2", "site-3"):
        external = by_site[("external", site)]
        assert external is not None and external < internal - 0.1
