"""Offline bundles: signed at export, verified before loading, refused when altered or from another publisher,
and scored by a standalone runner that needs numpy, onnxruntime and cryptography only."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from typer.testing import CliRunner

from dari.care import bundle_runner as runner
from dari.care.bundle import BundleError, create_signing_key, export_bundle, load_bundle, verify_bundle
from dari.care.settings import RiskThresholds
from dari.cli.app import app
from dari.errors import InputError
from dari.models import (
    FeatureValueError,
    OnnxModel,
    assemble_inputs,
    convert_to_spec_unit,
    linear_contributions,
    load_spec,
    parse_spec,
    sha256_file,
)
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

# Run the bundle's own run_bundle.py with every import outside the standard library refused, except the three
# packages the docs name (and cryptography's C bindings); dari, pydantic, onnx and the rest are unimportable. A spy
# on InferenceSession marks on stderr whether ONNX Runtime was ever asked to load the model.
ONLY_THREE = r"""
import importlib.abc, sys
ALLOWED = {"numpy", "onnxruntime", "cryptography", "cffi", "_cffi_backend", "_openssl"}
class OnlyTheThree(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED:
            return None
        raise ImportError(f"blocked {name!r}: the runner may use numpy, onnxruntime and cryptography only")
sys.meta_path.insert(0, OnlyTheThree())
try:
    import dari
except ImportError:
    pass
else:
    raise SystemExit("dari is importable: this run would prove nothing")
import onnxruntime
_real = onnxruntime.InferenceSession
def _spy(*args, **kwargs):
    sys.stderr.write("ORT-SESSION-CREATED\n")
    return _real(*args, **kwargs)
onnxruntime.InferenceSession = _spy
import runpy
script = sys.argv.pop(1)
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""


def _write_deployment(folder: Path, spec_bytes: bytes | None = None) -> Path:
    """A deployment folder of the reference model; another spec (with a card pinning it) when given."""
    folder.mkdir()
    paths = reference_model_paths()
    shutil.copyfile(paths.model, folder / "model.onnx")
    card = json.loads(paths.card.read_text(encoding="utf-8"))
    spec_bytes = spec_bytes if spec_bytes is not None else paths.spec.read_bytes()
    (folder / "features.json").write_bytes(spec_bytes)
    card["feature_spec_sha256"] = hashlib.sha256(spec_bytes).hexdigest()
    (folder / "model_card.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    manifest = {"model_sha256": sha256_file(paths.model), "site": "site-1", "report_id": "report-x"}
    (folder / "deployment.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    return _write_deployment(tmp_path / "deployed")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "sign.pem", tmp_path / "sign.pub"
    create_signing_key(private, public)
    assert private.stat().st_mode & 0o077 == 0
    return private, public


@pytest.fixture
def bundle(deployment: Path, keys: tuple[Path, Path], tmp_path: Path) -> Path:
    return export_bundle(deployment, keys[0], tmp_path / "m.dari")


def _rewrite(bundle: Path, out: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the bundle with entries changed (None drops the entry)."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = change(item.filename, src.read(item.filename))
            if data is not None:
                dst.writestr(item, data)
    return out


def _flip_model_byte(name: str, data: bytes) -> bytes:
    if name != "model.onnx":
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _dari_probability(raw: dict[str, Any]) -> float:
    """The reference: dari's own spec, input assembly and OnnxModel on the shipped files."""
    paths = reference_model_paths()
    spec = load_spec(paths.spec)
    model = OnnxModel.load(paths.model, spec=spec)
    return float(model.predict_proba(assemble_inputs(spec, raw))[0])


def _run_standalone(script: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-I", "-c", ONLY_THREE, str(script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=script.parent)


def test_care_bundle_round_trip_scores(bundle: Path, keys: tuple[Path, Path]) -> None:
    # Execute
    model, spec, record = load_bundle(bundle, keys[1])
    p = float(model.predict_proba(assemble_inputs(spec, RAW))[0])
    # Assert
    assert record["site"] == "site-1"
    assert p == pytest.approx(_dari_probability(RAW), abs=1e-12)
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read("run_bundle.py") == Path(runner.__file__).read_bytes()
        manifest = json.loads(zf.read("MANIFEST.json"))
    assert manifest["thresholds"] == {"warning": 0.2, "critical": 0.4}


def test_care_bundle_altered_file_refused(bundle: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    tampered = _rewrite(
        bundle,
        tmp_path / "t.dari",
        lambda name, data: data.replace(b'"high": 120.0', b'"high": 220.0') if name == "features.json" else data,
    )
    with pytest.raises(BundleError, match=r"features\.json was changed"):
        verify_bundle(tampered, keys[1])


def test_care_bundle_other_publisher_and_extra_entry_refused(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    create_signing_key(other_private, other_public)
    with pytest.raises(BundleError, match="signature"):
        verify_bundle(bundle, other_public)
    with zipfile.ZipFile(bundle, "a") as zf:
        zf.writestr("../evil.py", b"print('x')")
    with pytest.raises(BundleError, match="unexpected entries"):
        verify_bundle(bundle, keys[1])


def test_care_bundle_missing_or_duplicated_entry_refused(bundle: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    without_card = _rewrite(bundle, tmp_path / "a.dari", lambda n, d: None if n == "model_card.json" else d)
    with pytest.raises(BundleError, match=r"missing entries \['model_card.json'\]"):
        verify_bundle(without_card, keys[1])
    twice = tmp_path / "b.dari"
    shutil.copyfile(bundle, twice)
    with zipfile.ZipFile(twice, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("model.onnx", b"not the signed model")
    with pytest.raises(BundleError, match="appears twice"):
        verify_bundle(twice, keys[1])


def test_care_bundle_fingerprint_pins_the_carried_key(
    deployment: Path, bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # Prepare: a forger signs the same deployment with their own key; the bundle then carries their key
    trusted = runner.fingerprint(runner.load_public_key(keys[1].read_bytes(), source="test"))
    forger_private, forger_public = tmp_path / "f.pem", tmp_path / "f.pub"
    create_signing_key(forger_private, forger_public)
    forged = export_bundle(deployment, forger_private, tmp_path / "f.dari")
    # Execute / Assert: the carried key is used only when its fingerprint is the trusted one
    assert verify_bundle(bundle, fingerprint=f"SHA256:{trusted.upper()}")["model.onnx"]
    with pytest.raises(BundleError, match=r"fingerprint \w+, not the trusted one"):
        verify_bundle(forged, fingerprint=trusted)
    with pytest.raises(InputError, match="64 hex digits"):
        verify_bundle(bundle, fingerprint="abc")


def test_care_bundle_tampered_model_refused_before_onnx_runtime_loads(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    tampered = _rewrite(bundle, tmp_path / "t.dari", _flip_model_byte)
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps(RAW))
    sessions: list[object] = []
    real = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: sessions.append(a) or real(*a, **k))
    args = ["--public-key", str(keys[1]), "--inputs", str(inputs)]
    # Execute
    refused = runner.main(["score", str(tampered), *args])
    scored = runner.main(["score", str(bundle), *args])
    # Assert: the tampered bundle never reached ONNX Runtime; the intact one did, once
    assert (refused, scored) == (3, 0)
    assert len(sessions) == 1


@pytest.mark.parametrize(
    "raw",
    [
        RAW,
        {**RAW, "hba1c": None, "sbp": None, "diabetes": None, "heart_failure": None},
        {"age_years": 18, "male": 0, "egfr": 2, "hba1c": 20, "sbp": 50, "diabetes": 1, "heart_failure": 1},
        {"age_years": 120.0, "male": False, "egfr": 200.0},
    ],
)
def test_care_bundle_runner_rows_match_dari(raw: dict[str, Any]) -> None:
    # Prepare
    paths = reference_model_paths()
    spec = load_spec(paths.spec)
    rules = runner.read_spec(json.loads(paths.spec.read_text(encoding="utf-8")))
    # Execute
    assembled = runner.assemble(rules, raw)
    # Assert
    expected = assemble_inputs(spec, raw)
    np.testing.assert_array_equal(assembled.row, expected)
    shares = dict(
        zip(
            spec.feature_names,
            (c * (x - m) / s for (c, m, s), x in zip(rules.terms, assembled.row, strict=True)),
            strict=True,
        )
    )
    assert shares == pytest.approx(linear_contributions(spec, expected), abs=1e-12)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({**RAW, "egfr": None}, "missing"),
        ({**RAW, "egfr": 400.0}, "out_of_range"),
        ({**RAW, "egfr": math.inf}, "out_of_range"),
        ({**RAW, "male": 2}, "type"),
        ({**RAW, "sbp": "high"}, "type"),
        ({**RAW, "sbp": True}, "type"),
        ({**RAW, "creatinine": 1.1}, "unknown"),
    ],
)
def test_care_bundle_runner_refuses_what_dari_refuses(raw: dict[str, Any], reason: str) -> None:
    paths = reference_model_paths()
    rules = runner.read_spec(json.loads(paths.spec.read_text(encoding="utf-8")))
    with pytest.raises(FeatureValueError) as dari_refusal:
        assemble_inputs(load_spec(paths.spec), raw)
    with pytest.raises(runner.InputsRefusedError) as runner_refusal:
        runner.assemble(rules, raw)
    assert runner_refusal.value.reason == dari_refusal.value.reason == reason
    assert runner_refusal.value.feature == dari_refusal.value.feature


def test_care_bundle_runner_units_converted_only_as_declared() -> None:
    # Prepare: blood pressure also accepted in kPa (1 kPa = 7.50062 mmHg), as a spec may declare
    doc = json.loads(reference_model_paths().spec.read_text(encoding="utf-8"))
    sbp = next(f for f in doc["features"] if f["name"] == "sbp")
    sbp["source"]["convert"] = [{"unit": "kPa", "factor": 7.50062}]
    spec, rules = parse_spec(doc), runner.read_spec(doc)
    # Execute
    row = runner.assemble(rules, {**RAW, "sbp": {"value": 20.0, "unit": "kPa"}}).row
    same = runner.assemble(rules, {**RAW, "sbp": {"value": 150.0, "unit": "mm[Hg]"}}).row
    # Assert
    in_mmhg = convert_to_spec_unit(spec.feature("sbp").source, 20.0, "kPa", feature="sbp")  # type: ignore[arg-type]
    np.testing.assert_array_equal(row, assemble_inputs(spec, {**RAW, "sbp": in_mmhg}))
    np.testing.assert_array_equal(same, assemble_inputs(spec, RAW))
    with pytest.raises(runner.InputsRefusedError, match=r"unit 'umol/L' is not accepted.*mm\[Hg\], kPa") as refusal:
        runner.assemble(rules, {**RAW, "sbp": {"value": 20.0, "unit": "umol/L"}})
    assert refusal.value.reason == "unit"
    with pytest.raises(runner.InputsRefusedError, match=r"value 450\.\d* mm\[Hg\] is outside the range"):
        runner.assemble(rules, {**RAW, "sbp": {"value": 60.0, "unit": "kPa"}})  # 450 mmHg


def test_care_bundle_runner_score_indicator_and_exact_contributions(bundle: Path, keys: tuple[Path, Path]) -> None:
    # Execute
    model = runner.open_model(runner.verify(bundle, public_key_pem=keys[1].read_bytes()))
    result = runner.score(model, RAW)
    # Assert
    assert result.probability == pytest.approx(_dari_probability(RAW), abs=1e-12)
    expected = "critical" if result.probability >= 0.4 else "warning" if result.probability >= 0.2 else "info"
    assert result.indicator == expected
    assert result.contributions is not None
    logit = model.spec.intercept + sum(share for _, share in result.contributions)  # type: ignore[operator]
    assert logit == pytest.approx(math.log(result.probability / (1 - result.probability)), abs=1e-5)
    shares = [abs(share) for _, share in result.contributions]
    assert shares == sorted(shares, reverse=True)
    assert runner.indicator_for(0.19, 0.2, 0.4) == "info"
    assert runner.indicator_for(0.2, 0.2, 0.4) == "warning"
    assert runner.indicator_for(0.4, 0.2, 0.4) == "critical"


def test_care_bundle_standalone_runner_needs_onnx_runtime_only(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # Prepare: the device gets the bundle, the publisher's public key and the runner the bundle carries
    device = tmp_path / "device"
    device.mkdir()
    shutil.copyfile(bundle, device / "model.dari")
    with zipfile.ZipFile(bundle) as zf:
        (device / "run_bundle.py").write_bytes(zf.read("run_bundle.py"))
    (device / "patient.json").write_text(json.dumps(RAW))
    trusted = runner.fingerprint(runner.load_public_key(keys[1].read_bytes(), source="test"))
    # Execute
    done = _run_standalone(
        device / "run_bundle.py",
        "score",
        "model.dari",
        "--fingerprint",
        trusted,
        "--inputs",
        "patient.json",
        "--format",
        "json",
    )
    text = _run_standalone(
        device / "run_bundle.py",
        "score",
        "model.dari",
        "--public-key",
        keys[1],
        "--inputs",
        "patient.json",
        "--locale",
        "en",
    )
    # Assert
    assert done.returncode == 0, done.stderr
    assert "ORT-SESSION-CREATED" in done.stderr  # the spy works, so its absence below means something
    scored = json.loads(done.stdout)
    assert scored["probability"] == pytest.approx(_dari_probability(RAW), abs=1e-12)
    assert scored["indicator"] in {"info", "warning", "critical"}
    assert scored["publisher_fingerprint"] == trusted
    assert {c["feature"] for c in scored["contributions"]} == set(RAW)
    assert text.returncode == 0, text.stderr
    assert "risk " in text.stdout and "top contributions" in text.stdout and "Kidney function (eGFR)" in text.stdout


def test_care_bundle_standalone_runner_refuses_before_loading(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # Prepare
    script = tmp_path / "run_bundle.py"
    with zipfile.ZipFile(bundle) as zf:
        script.write_bytes(zf.read("run_bundle.py"))
    tampered = _rewrite(bundle, tmp_path / "t.dari", _flip_model_byte)
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    create_signing_key(other_private, other_public)
    inputs = tmp_path / "patient.json"
    inputs.write_text(json.dumps(RAW))
    # Execute
    changed = _run_standalone(script, "score", tampered, "--public-key", keys[1], "--inputs", inputs)
    wrong_key = _run_standalone(script, "score", bundle, "--public-key", other_public, "--inputs", inputs)
    # Assert: refused with exit 3, and ONNX Runtime never created a session
    assert changed.returncode == 3 and "model.onnx was changed after signing" in changed.stderr
    assert wrong_key.returncode == 3 and "signature does not match" in wrong_key.stderr
    assert "ORT-SESSION-CREATED" not in changed.stderr + wrong_key.stderr


def test_care_bundle_non_linear_model_says_contributions_unavailable(keys: tuple[Path, Path], tmp_path: Path) -> None:
    # Prepare: the same model, its spec without linear terms (as for a tree model)
    doc = json.loads(reference_model_paths().spec.read_text(encoding="utf-8"))
    doc["linear_model"] = None
    folder = _write_deployment(tmp_path / "tree", json.dumps(doc).encode())
    bundle = export_bundle(
        folder, keys[0], tmp_path / "tree.dari", thresholds=RiskThresholds(warning=0.1, critical=0.9)
    )
    # Execute
    model = runner.open_model(runner.verify(bundle, public_key_pem=keys[1].read_bytes()))
    result = runner.score(model, RAW)
    # Assert
    assert result.contributions is None
    assert result.indicator == "warning"  # by the bundle's thresholds, not the defaults
    assert "contributions unavailable" in runner.render_text(model, result, locale="en")
    assert runner.result_json(model, result)["contributions"] is None


def test_care_bundle_export_refuses_inconsistent_deployment(
    deployment: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    (deployment / "deployment.json").write_text(json.dumps({"model_sha256": "0" * 64, "site": "site-1"}))
    with pytest.raises(InputError, match="model_sha256"):
        export_bundle(deployment, keys[0], tmp_path / "x.dari")
    assert not (tmp_path / "x.dari").exists()


def test_care_bundle_cli(deployment: Path, tmp_path: Path) -> None:
    # Prepare
    cli = CliRunner()
    private, public, bundle = tmp_path / "k.pem", tmp_path / "k.pub", tmp_path / "cli.dari"
    made = cli.invoke(app, ["cds", "bundle", "keygen", str(private), str(public)])
    assert made.exit_code == 0, made.output
    fingerprint = made.stdout.strip()
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps(RAW))
    # Execute
    done = cli.invoke(app, ["cds", "bundle", "export", str(deployment), "--key", str(private), "--out", str(bundle)])
    verified = cli.invoke(
        app, ["cds", "bundle", "verify", str(bundle), "--fingerprint", fingerprint, "--format", "json"]
    )
    score_args = ["cds", "bundle", "score", str(bundle), "--public-key", str(public), "--inputs", str(inputs)]
    scored = cli.invoke(app, [*score_args, "--format", "json"])
    table = cli.invoke(app, score_args)
    inputs.write_text(json.dumps({**RAW, "egfr": 400.0}))
    refused = cli.invoke(app, score_args)
    no_key = cli.invoke(app, ["cds", "bundle", "score", str(bundle), "--inputs", str(inputs)])
    bad_thresholds = cli.invoke(
        app,
        [
            "cds",
            "bundle",
            "export",
            str(deployment),
            "--key",
            str(private),
            "--out",
            str(tmp_path / "b.dari"),
            "--warning",
            "0.5",
            "--critical",
            "0.4",
        ],
    )
    copied = cli.invoke(app, ["cds", "bundle", "runner", str(tmp_path / "run_bundle.py")])
    # Assert
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 64
    assert done.exit_code == 0, done.output
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["this_runner_is_the_signed_one"] is True
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["probability"] == pytest.approx(_dari_probability(RAW), abs=1e-12)
    assert table.exit_code == 0 and "위험도" in table.stdout
    assert refused.exit_code == 2 and "egfr" in refused.output and "outside the range" in refused.output
    assert no_key.exit_code == 2 and "--public-key or --fingerprint" in no_key.output
    assert bad_thresholds.exit_code == 2 and "warning must be below critical" in bad_thresholds.output
    assert not (tmp_path / "b.dari").exists()
    assert copied.exit_code == 0
    with zipfile.ZipFile(bundle) as zf:
        assert (tmp_path / "run_bundle.py").read_bytes() == zf.read("run_bundle.py")


def test_care_bundle_runner_refuses_odd_inputs_files_and_unknown_spec_kinds(tmp_path: Path) -> None:
    # Prepare
    nan = tmp_path / "nan.json"
    nan.write_text('{"egfr": NaN}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"pad": "x" * runner.MAX_INPUTS_BYTES}))
    doc = json.loads(reference_model_paths().spec.read_text(encoding="utf-8"))
    doc["features"][2]["transform"] = {"kind": "log"}
    # Execute / Assert
    with pytest.raises(runner.UsageError, match="NaN is not a value"):
        runner.read_inputs(nan)
    with pytest.raises(runner.UsageError, match="JSON object keyed by feature name"):
        runner.read_inputs(listed)
    with pytest.raises(runner.UsageError, match="larger than"):
        runner.read_inputs(huge)
    with pytest.raises(runner.BundleRefusedError, match="transform kind 'log'"):
        runner.read_spec(doc)
