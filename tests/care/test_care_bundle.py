"""Offline bundles: signed at export, verified before loading, refused when altered or from another publisher."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dari.care.bundle import BundleError, create_signing_key, export_bundle, load_bundle, verify_bundle
from dari.cli.app import app
from dari.models import sha256_file
from dari.models.reference import reference_model_paths

RAW = {
    "age_years": 70.0,
    "male": True,
    "egfr": 41.0,
    "hba1c": 8.1,
    "sbp": 150.0,
    "diabetes": True,
    "heart_failure": False,
}


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    folder = tmp_path / "deployed"
    folder.mkdir()
    paths = reference_model_paths()
    shutil.copyfile(paths.model, folder / "model.onnx")
    shutil.copyfile(paths.spec, folder / "features.json")
    shutil.copyfile(paths.card, folder / "model_card.json")
    manifest = {"model_sha256": sha256_file(paths.model), "site": "site-1", "report_id": "report-x"}
    (folder / "deployment.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "sign.pem", tmp_path / "sign.pub"
    create_signing_key(private, public)
    assert private.stat().st_mode & 0o077 == 0
    return private, public


def test_care_bundle_round_trip_scores(deployment: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = export_bundle(deployment, keys[0], tmp_path / "m.dari")
    model, spec, record = load_bundle(bundle, keys[1])
    assert record["site"] == "site-1"
    from dari.models import assemble_inputs

    p = float(model.predict_proba(assemble_inputs(spec, RAW))[0])
    assert 0.0 < p < 1.0


def test_care_bundle_altered_file_refused(deployment: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = export_bundle(deployment, keys[0], tmp_path / "m.dari")
    tampered = tmp_path / "t.dari"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "features.json":
                data = data.replace(b'"high": 120.0', b'"high": 220.0')
            dst.writestr(item, data)
    with pytest.raises(BundleError, match=r"features\.json was changed"):
        verify_bundle(tampered, keys[1])


def test_care_bundle_other_publisher_and_extra_entry_refused(
    deployment: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = export_bundle(deployment, keys[0], tmp_path / "m.dari")
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    create_signing_key(other_private, other_public)
    with pytest.raises(BundleError, match="signature"):
        verify_bundle(bundle, other_public)
    with zipfile.ZipFile(bundle, "a") as zf:
        zf.writestr("../evil.py", b"print('x')")
    with pytest.raises(BundleError, match="unexpected entries"):
        verify_bundle(bundle, keys[1])


def test_care_bundle_cli(deployment: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    bundle = tmp_path / "cli.dari"
    done = runner.invoke(app, ["cds", "bundle", "export", str(deployment), "--key", str(keys[0]), "--out", str(bundle)])
    assert done.exit_code == 0, done.output
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps(RAW))
    scored = runner.invoke(
        app, ["cds", "bundle", "score", str(bundle), "--public-key", str(keys[1]), "--inputs", str(inputs)]
    )
    assert scored.exit_code == 0, scored.output
    assert 0.0 < json.loads(scored.stdout)["probability"] < 1.0
    inputs.write_text(json.dumps({**RAW, "egfr": 400.0}))
    refused = runner.invoke(
        app, ["cds", "bundle", "score", str(bundle), "--public-key", str(keys[1]), "--inputs", str(inputs)]
    )
    assert refused.exit_code == 2 and "egfr" in refused.output
