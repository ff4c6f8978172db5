"""The shipped reference model: it loads, its card pins it, and its linear terms explain its scores exactly."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from dari.models.feature_spec import load_spec
from dari.models.inputs import assemble_inputs, linear_contributions
from dari.models.model_card import load_card
from dari.models.onnx_model import OnnxModel
from dari.models.reference import reference_model_paths, train_reference
from dari.models.reference_spec import reference_spec

PATIENT = {
    "age_years": 74.0,
    "male": False,
    "egfr": 38.5,
    "hba1c": 8.4,
    "sbp": 151.0,
    "diabetes": True,
    "heart_failure": True,
}


def test_shipped_files_are_package_data() -> None:
    # Execute
    paths = reference_model_paths()
    # Assert: inside the package folder (hatchling ships src/dari/** unless .gitignore'd), readable by all
    for path in (paths.model, paths.spec, paths.card):
        assert path.is_file() and "dari/models/data/reference" in path.as_posix()
        assert path.stat().st_mode & 0o044 == 0o044
    assert paths.model.stat().st_size < 64 * 1024


def test_shipped_model_loads_and_card_pins_it() -> None:
    # Prepare
    paths = reference_model_paths()
    spec = load_spec(paths.spec)
    card = load_card(paths.card)
    # Execute
    model = OnnxModel.load(paths.model, spec=spec, expected_sha256=card.model_sha256)
    # Assert
    assert model.sha256 == card.model_sha256 == hashlib.sha256(paths.model.read_bytes()).hexdigest()
    assert card.feature_spec_sha256 == hashlib.sha256(paths.spec.read_bytes()).hexdigest()
    assert card.model_file == paths.model.name and card.feature_spec_file == paths.spec.name
    assert [f.name for f in card.features] == list(spec.feature_names)
    assert card.release_stage == "research" and card.training_data.synthetic


def test_shipped_spec_is_the_reference_spec_plus_linear_terms() -> None:
    # Execute
    spec = load_spec(reference_model_paths().spec)
    # Assert
    assert spec.model_copy(update={"linear_model": None}) == reference_spec()
    assert spec.linear_model is not None


def test_linear_contributions_sum_to_the_onnx_logit() -> None:
    # Prepare
    paths = reference_model_paths()
    spec = load_spec(paths.spec)
    model = OnnxModel.load(paths.model, spec=spec)
    row = assemble_inputs(spec, PATIENT)
    # Execute
    parts = linear_contributions(spec, row)
    p = float(model.predict_proba(row)[0])
    # Assert
    assert spec.linear_model is not None
    logit = spec.linear_model.intercept + sum(parts.values())
    assert 1 / (1 + np.exp(-logit)) == pytest.approx(p, abs=1e-6)
    assert parts["egfr"] > 0  # eGFR below the cohort mean raises the risk
    assert parts["heart_failure"] > 0


def test_card_reports_home_better_calibrated_than_other_sites() -> None:
    # Execute
    card = load_card(reference_model_paths().card)
    # Assert
    internal = next(p for p in card.performance if p.setting == "internal_apparent")
    external = [p for p in card.performance if p.setting == "external"]
    assert internal.auroc is not None and internal.auroc > 0.75
    assert len(external) == 2
    for ext in external:
        assert ext.calibration_in_the_large is not None and abs(ext.calibration_in_the_large) > 0.2
    assert {s.group for s in card.subgroups if s.attribute == "sex"} == {"F", "M"}


@pytest.mark.slow
def test_training_command_end_to_end_on_a_small_site(tmp_path: Path) -> None:
    # Prepare
    out = tmp_path / "reference"
    # Execute
    result = train_reference(out, seed=3, patients=2500, external_patients=0, workdir=tmp_path / "work")
    # Assert
    card = load_card(out / "model_card.json")
    model = OnnxModel.load(out / "model.onnx", spec=load_spec(out / "features.json"))
    assert model.sha256 == card.model_sha256 == result.model_sha256
    assert result.apparent.n > 100 and result.apparent.auroc is not None
    assert oct(os.stat(out / "model.onnx").st_mode & 0o777) == "0o644"
