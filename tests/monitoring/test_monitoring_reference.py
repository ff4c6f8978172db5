"""The monitoring reference: built from the validation cohort on the site's CDM, bounded, without identifiers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dari.cdm.store import open_store
from dari.errors import InputError
from dari.federation.flower.site_work import score_site
from dari.models import ModelFileError
from dari.monitoring.reference import (
    REFERENCE_FILE,
    build_reference,
    load_deployment,
    load_reference,
    save_reference,
    seen_values,
)
from dari.validation import evaluate


def test_monitoring_reference_matches_the_site_validation(reference_site: Path, deployment_dir: Path) -> None:
    # Prepare
    deployment = load_deployment(deployment_dir)
    scored = score_site(reference_site, deployment.model, deployment.spec)  # what `dari validate` scores there
    # Execute
    reference = load_reference(deployment_dir / REFERENCE_FILE)
    # Assert
    perf = reference.performance
    expected = evaluate(scored.y, scored.p)
    assert (perf.n, perf.events) == (scored.y.size, int(scored.y.sum()))
    assert perf.auroc == pytest.approx(expected.auroc.estimate, abs=1e-12)
    assert perf.auroc_ci == pytest.approx((expected.auroc.ci_low, expected.auroc.ci_high), abs=1e-12)
    assert perf.calibration_slope == pytest.approx(expected.calibration.slope.estimate, abs=1e-12)
    assert perf.oe_ratio == pytest.approx(scored.y.mean() / scored.p.mean())
    assert list(reference.inputs) == list(deployment.spec.feature_names)
    assert sorted(reference.score.sample) == pytest.approx(sorted(scored.p.tolist()))
    assert (reference.site_id, reference.model_sha256) == ("site-1", deployment.model_sha256)


def test_monitoring_reference_sample_is_bounded_and_keeps_no_identifier(
    reference_site: Path, deployment_dir: Path, tmp_path: Path
) -> None:
    # Prepare
    deployment = load_deployment(deployment_dir)
    store = open_store(reference_site)
    try:
        # Execute
        reference = build_reference(deployment, store, sample_size=100, seed=3)
    finally:
        store.close()
    save_reference(reference, tmp_path / REFERENCE_FILE)
    text = (tmp_path / REFERENCE_FILE).read_text(encoding="utf-8")
    doc = json.loads(text)
    # Assert
    assert all(len(d.sample) == 100 for d in [*reference.inputs.values(), reference.score])
    assert set(doc) == {
        "reference_format", "model_sha256", "model_name", "model_version", "site_id", "built_at", "inputs", "score",
        "performance",
    }  # fmt: skip
    assert not any(key.startswith("person") for key in json.dumps(doc).split('"'))
    assert load_reference(tmp_path / REFERENCE_FILE) == reference
    hba1c = np.array(reference.inputs["hba1c"].sample)
    assert np.isfinite(hba1c).all() and (hba1c == 5.6).any()  # missing values count as the imputed 5.6


def test_monitoring_seen_values_impute_only_what_the_spec_imputes(deployment_dir: Path) -> None:
    # Prepare
    spec = load_deployment(deployment_dir).spec
    raw = {name: np.array([np.nan, 1.0]) for name in spec.feature_names}
    # Execute
    seen = seen_values(spec, raw)
    # Assert
    assert seen["hba1c"][0] == 5.6 and seen["sbp"][0] == 130 and seen["diabetes"][0] == 0
    assert np.isnan(seen["egfr"][0]) and np.isnan(seen["age_years"][0])  # required: never imputed
    assert all(v[1] == 1.0 for v in seen.values())


def test_monitoring_deployment_folder_errors(deployment_dir: Path, reference_site: Path, tmp_path: Path) -> None:
    # Prepare: a folder without deployment.json, and one whose manifest pins another model
    bare, wrong = tmp_path / "bare", tmp_path / "wrong"
    for folder in (bare, wrong):
        folder.mkdir()
        for name in ("model.onnx", "features.json"):
            shutil.copyfile(deployment_dir / name, folder / name)
    (wrong / "deployment.json").write_text(json.dumps({"model_sha256": "0" * 64, "site": "site-1"}), encoding="utf-8")
    store = open_store(reference_site)
    # Execute / Assert
    try:
        with pytest.raises(InputError, match="names no site"):
            build_reference(load_deployment(bare), store)
        assert build_reference(load_deployment(bare), store, site_id="site-9", sample_size=50).site_id == "site-9"
    finally:
        store.close()
    with pytest.raises(ModelFileError, match="differs from the expected"):
        load_deployment(wrong)
    with pytest.raises(InputError, match="build it with `dari monitor reference`"):
        load_reference(bare / REFERENCE_FILE)
