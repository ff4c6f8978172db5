#!/usr/bin/env python3
"""dari offline bundle runner: verify a signed bundle, then score one patient with ONNX Runtime.

Standalone on purpose: Python 3.10+ with numpy, onnxruntime and cryptography, nothing else (no dari, no network).
This file is `dari.care.bundle_runner`, which `dari cds bundle score` imports, and every bundle carries a copy of
it as `run_bundle.py`. Everything below happens before ONNX Runtime sees a byte of the model:

1. the zip holds exactly the expected entries, each once and under the size limit;
2. the publisher key is the one the user trusts: a PEM file (--public-key), or the key in the bundle only when its
   SHA-256 fingerprint equals the one the user gives (--fingerprint); never the bundle's key on its own word;
3. the Ed25519 signature over MANIFEST.json verifies with that key;
4. every file's SHA-256 equals the signed manifest's.

    python run_bundle.py fingerprint publisher.pub
    python run_bundle.py verify model.dari --public-key publisher.pub
    python run_bundle.py score model.dari --fingerprint HEX --inputs patient.json [--format json] [--locale en]

Inputs: a JSON object keyed by the spec's feature names. A number is read in the spec's unit; `{"value": v,
"unit": "UCUM"}` is converted only by a factor the spec declares; yes/no inputs take true/false (or 0/1); null or
absent means missing (imputed where the spec says so, else refused). Out-of-range values are refused, never
clipped. Exit codes: 0 done, 2 bad arguments or inputs, 3 bundle refused.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "dari-bundle/2"
MODEL, SPEC, CARD, DEPLOYMENT = "model.onnx", "features.json", "model_card.json", "deployment.json"
RUNNER, PUBLIC_KEY = "run_bundle.py", "publisher.pub"
SIGNED_FILES = (MODEL, SPEC, CARD, DEPLOYMENT, RUNNER, PUBLIC_KEY)
MANIFEST, SIGNATURE = "MANIFEST.json", "MANIFEST.sig"
ENTRIES = frozenset({*SIGNED_FILES, MANIFEST, SIGNATURE})
MAX_ENTRY_BYTES = 256 * 1024 * 1024
MAX_INPUTS_BYTES = 64 * 1024  # one patient's values; anything larger is not an inputs file
PROBABILITY_OUTPUTS = ("probabilities", "output_probability", "probability")
TOP_CONTRIBUTIONS = 4
LEVELS = {"info": ("낮음", "low"), "warning": ("중간", "moderate"), "critical": ("높음", "high")}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class RunnerError(Exception):
    """Base of the runner's refusals; `exit_code` is what the command exits with."""

    exit_code = 1


class UsageError(RunnerError):
    """A bad argument: unreadable key or inputs file, malformed fingerprint."""

    exit_code = 2


class InputsRefusedError(RunnerError):
    """A patient's value the spec does not allow: missing though required, out of range, wrong type or unit."""

    exit_code = 2

    def __init__(self, feature: str, label: str | None, reason: str, message: str) -> None:
        self.feature = feature
        self.reason = reason  # "missing" | "out_of_range" | "type" | "unit" | "unknown"
        super().__init__(f"feature {feature!r}{f' ({label})' if label else ''}: {message}")


class BundleRefusedError(RunnerError):
    """A bundle that cannot be trusted: unexpected entries, another publisher, bad signature, changed file."""

    exit_code = 3


# ---------------------------------------------------------------------------------------------- keys and signature


def load_public_key(pem: bytes, *, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes; UsageError naming `source` otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise UsageError(f"{source}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{source}: the publisher key must be Ed25519, got {type(key).__name__}")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the key's 32 raw bytes: what a clinic checks against the publisher's announcement."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """64 lower-case hex digits from a fingerprint written with an optional `sha256:` prefix, colons or spaces."""
    bare = re.sub(r"[\s:]", "", text.strip().lower().removeprefix("sha256:"))
    if not _HEX64.match(bare):
        raise UsageError(f"--fingerprint must be 64 hex digits (SHA-256), got {text!r}")
    return bare


def make_manifest(files: Mapping[str, bytes], *, warning: float, critical: float, signed_at: str) -> bytes:
    """The manifest's bytes (what the publisher signs): format, each file's SHA-256, the card thresholds."""
    if set(files) != set(SIGNED_FILES):
        raise UsageError(f"a bundle signs exactly {', '.join(SIGNED_FILES)}")
    body = {
        "format": FORMAT,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "thresholds": {"warning": warning, "critical": critical},
        "signed_at": signed_at,
    }
    _check_thresholds(body["thresholds"], "thresholds")
    return json.dumps(body, indent=2, sort_keys=True).encode()


def _check_thresholds(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, dict):
        raise BundleRefusedError(f"{where} must be an object")
    given = [value.get("warning"), value.get("critical")]
    numbers = [float(v) for v in given if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != 2:
        raise BundleRefusedError(f"{where} must hold numbers 'warning' and 'critical'")
    warning, critical = numbers
    if not 0.0 < warning < critical < 1.0:
        raise BundleRefusedError(f"{where} must satisfy 0 < warning < critical < 1, got {warning} and {critical}")
    return warning, critical


def _parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleRefusedError(f"{where}: {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict):
        raise BundleRefusedError(f"{where}: {MANIFEST} must be a JSON object")
    if manifest.get("format") != FORMAT:
        raise BundleRefusedError(
            f"{where}: format {manifest.get('format')!r} is not {FORMAT!r}; export the bundle again with this dari"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(SIGNED_FILES):
        raise BundleRefusedError(f"{where}: {MANIFEST} must list the hashes of {', '.join(SIGNED_FILES)}")
    _check_thresholds(manifest.get("thresholds"), f"{where}: {MANIFEST} thresholds")
    return manifest


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle's files, only ever built after the publisher key, the signature and every hash checked out."""

    path: Path
    files: dict[str, bytes]
    manifest: dict[str, Any]
    publisher: str  # fingerprint of the key that verified the signature


def _read_entries(zf: zipfile.ZipFile, where: str) -> None:
    names = [info.filename for info in zf.infolist()]
    if len(names) != len(set(names)):
        raise BundleRefusedError(f"{where}: an entry appears twice; refused")
    missing, extra = sorted(ENTRIES - set(names)), sorted(set(names) - ENTRIES)
    if extra:
        raise BundleRefusedError(f"{where}: unexpected entries {extra}")
    if missing:
        raise BundleRefusedError(f"{where}: missing entries {missing}")
    if any(info.file_size > MAX_ENTRY_BYTES for info in zf.infolist()):
        raise BundleRefusedError(f"{where}: an entry is larger than the bundle limit ({MAX_ENTRY_BYTES} bytes)")


def _trusted_key(zf: zipfile.ZipFile, where: str, public_key_pem: bytes | None, wanted: str | None) -> Ed25519PublicKey:
    if public_key_pem is not None:
        return load_public_key(public_key_pem, source="--public-key")
    assert wanted is not None  # verify() checked that exactly one was given
    try:
        carried = load_public_key(zf.read(PUBLIC_KEY), source=f"{where}: {PUBLIC_KEY}")
    except UsageError as exc:
        raise BundleRefusedError(str(exc)) from None
    found = fingerprint(carried)
    if not hmac.compare_digest(found, normalise_fingerprint(wanted)):
        raise BundleRefusedError(f"{where}: the bundle's publisher key has fingerprint {found}, not the trusted one")
    return carried


def verify(
    bundle: Path, *, public_key_pem: bytes | None = None, trusted_fingerprint: str | None = None
) -> VerifiedBundle:
    """Check entries, publisher key, signature and hashes, in that order; BundleRefusedError at the first failure."""
    if (public_key_pem is None) == (trusted_fingerprint is None):
        raise UsageError("give the key to trust: exactly one of a public key file or its fingerprint")
    where = str(bundle)
    try:
        zf = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleRefusedError(f"{where}: not a readable bundle: {exc}") from None
    with zf:
        _read_entries(zf, where)
        try:
            key = _trusted_key(zf, where, public_key_pem, trusted_fingerprint)
            manifest_bytes, signature = zf.read(MANIFEST), zf.read(SIGNATURE)
            try:
                key.verify(signature, manifest_bytes)
            except InvalidSignature:
                raise BundleRefusedError(
                    f"{where}: the signature does not match the manifest: not from this publisher, or altered"
                ) from None
            manifest = _parse_manifest(manifest_bytes, where)
            files = {name: zf.read(name) for name in SIGNED_FILES}
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:  # zlib errors are ValueErrors too
            raise BundleRefusedError(f"{where}: a damaged entry: {exc}") from None
    for name, data in files.items():
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), str(manifest["files"][name])):
            raise BundleRefusedError(f"{where}: {name} was changed after signing")
    return VerifiedBundle(bundle, files, manifest, fingerprint(key))


# ---------------------------------------------------------------------------------------------- the feature spec


@dataclass(frozen=True)
class FeatureRule:
    """One input as the spec declares it (dari.models.feature_spec.Feature, read without pydantic)."""

    name: str
    label_ko: str
    label_en: str
    indicator: bool  # yes/no input (a condition or male sex)
    unit: str | None  # UCUM unit of numbers ("a" for age), None for yes/no
    factors: dict[str, float]  # other accepted units → factor to the spec's unit
    centre: float  # transform: (x − centre) / scale; raw and indicator are centre 0, scale 1
    scale: float
    impute: float | None  # None: required
    low: float | None
    high: float | None


@dataclass(frozen=True)
class SpecRules:
    """The parts of a feature spec scoring needs, in model column order, with the linear terms if any."""

    name: str
    version: str
    features: tuple[FeatureRule, ...]
    intercept: float | None
    terms: tuple[tuple[float, float, float], ...]  # (coefficient, mean, scale) per feature; () when not linear


_KINDS = {
    "source": {"measurement", "condition", "demographic"},
    "transform": {"raw", "centre_scale", "indicator"},
    "missing": {"required", "impute"},
}


def _rule(f: Mapping[str, Any]) -> FeatureRule:
    source, transform, missing, valid = f["source"], f["transform"], f["missing"], f.get("valid_range")
    for part, kinds in _KINDS.items():
        if f[part]["kind"] not in kinds:  # a kind this runner does not know is refused, never guessed at
            raise ValueError(f"feature {f['name']!r}: {part} kind {f[part]['kind']!r} is not one of {sorted(kinds)}")
    indicator = source["kind"] == "condition" or (source["kind"] == "demographic" and source["field"] == "male")
    unit = None if indicator else (source["unit"] if source["kind"] == "measurement" else "a")
    factors = {str(c["unit"]): float(c["factor"]) for c in source.get("convert", ())} if not indicator else {}
    centred = transform["kind"] == "centre_scale"
    return FeatureRule(
        name=str(f["name"]),
        label_ko=str(f["label_ko"]),
        label_en=str(f["label_en"]),
        indicator=indicator,
        unit=unit,
        factors=factors,
        centre=float(transform["centre"]) if centred else 0.0,
        scale=float(transform["scale"]) if centred else 1.0,
        impute=float(missing["value"]) if missing["kind"] == "impute" else None,
        low=float(valid["low"]) if valid else None,
        high=float(valid["high"]) if valid else None,
    )


def read_spec(spec: Mapping[str, Any]) -> SpecRules:
    """The scoring rules of a feature spec (format 1) as JSON; BundleRefusedError when it does not follow the format."""
    try:
        if spec["spec_format"] != 1:
            raise ValueError(f"spec_format {spec['spec_format']!r} is not 1")
        features = tuple(_rule(f) for f in spec["features"])
        linear = spec.get("linear_model")
        terms = (
            tuple((float(t["coefficient"]), float(t["mean"]), float(t["scale"])) for t in linear["terms"])
            if linear
            else ()
        )
        if linear and [t["feature"] for t in linear["terms"]] != [f.name for f in features]:
            raise ValueError("linear_model.terms must follow the features in order")
        return SpecRules(
            str(spec["name"]), str(spec["version"]), features, float(linear["intercept"]) if linear else None, terms
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleRefusedError(f"{SPEC} does not follow the feature spec format: {exc!r}") from None


# ---------------------------------------------------------------------------------------------- inputs to the model row


@dataclass(frozen=True)
class Assembled:
    """One patient's model row, the values used (in the spec's units) and which were imputed."""

    row: np.ndarray
    values: dict[str, float]
    imputed: tuple[str, ...]


def _number(rule: FeatureRule, value: object) -> float | None:
    """A raw value as a float in the spec's terms (None when missing), refusing wrong types and units."""
    factor = 1.0
    if isinstance(value, dict):
        if rule.indicator:
            raise InputsRefusedError(rule.name, rule.label_en, "type", f"takes true/false, not a quantity: {value!r}")
        if set(value) != {"value", "unit"} or not isinstance(value["unit"], str):
            raise InputsRefusedError(
                rule.name, rule.label_en, "type", 'a quantity must be {"value": number, "unit": "UCUM"}'
            )
        known = {rule.unit: 1.0, **rule.factors} if rule.unit else {}
        if value["unit"] not in known:
            accepted = ", ".join(u for u in known if u)
            raise InputsRefusedError(
                rule.name,
                rule.label_en,
                "unit",
                f"unit {value['unit']!r} is not accepted (accepted UCUM units: {accepted})",
            )
        factor, value = known[value["unit"]], value["value"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if rule.indicator:
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float) and value in (0, 1):
            return float(value)
        raise InputsRefusedError(rule.name, rule.label_en, "type", f"must be true/false (or 0/1), got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputsRefusedError(rule.name, rule.label_en, "type", f"must be a number, got {value!r}")
    if math.isinf(value):
        raise InputsRefusedError(rule.name, rule.label_en, "out_of_range", f"must be finite, got {value!r}")
    return float(value) * factor


def assemble(spec: SpecRules, inputs: Mapping[str, object]) -> Assembled:
    """The model row (float64, spec order) from one patient's inputs, by the spec's units, ranges and missing rules."""
    unknown = sorted(set(inputs) - {f.name for f in spec.features})
    if unknown:
        raise InputsRefusedError(unknown[0], None, "unknown", f"is not a feature of {spec.name} {spec.version}")
    row = np.empty(len(spec.features), dtype=np.float64)
    values: dict[str, float] = {}
    imputed: list[str] = []
    for j, rule in enumerate(spec.features):
        value = _number(rule, inputs.get(rule.name))
        if value is None:
            if rule.impute is None:
                raise InputsRefusedError(
                    rule.name, rule.label_en, "missing", "required value is missing; the patient is not scored"
                )
            value = rule.impute
            imputed.append(rule.name)
        if rule.low is not None and rule.high is not None and not rule.low <= value <= rule.high:
            unit = f" {rule.unit}" if rule.unit else ""
            raise InputsRefusedError(
                rule.name,
                rule.label_en,
                "out_of_range",
                f"value {value:g}{unit} is outside the range [{rule.low:g}, {rule.high:g}]",
            )
        values[rule.name] = value
        row[j] = (value - rule.centre) / rule.scale
    return Assembled(row, values, tuple(imputed))


def read_inputs(path: Path) -> dict[str, object]:
    """One patient's inputs from a JSON file ('-' for standard input); NaN and Infinity literals refused."""

    def refuse_constant(name: str) -> None:
        raise UsageError(f"{path}: {name} is not a value; leave the feature out or use null when it is missing")

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_INPUTS_BYTES + 1)
        else:
            with path.open("rb") as fh:
                data = fh.read(MAX_INPUTS_BYTES + 1)  # never more: a huge file is refused, not read
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the inputs: {exc}") from None
    if len(data) > MAX_INPUTS_BYTES:
        raise UsageError(f"{path}: inputs larger than {MAX_INPUTS_BYTES} bytes; one patient's values are expected")
    try:
        inputs = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(inputs, dict):
        raise UsageError(f"{path}: the inputs must be a JSON object keyed by feature name")
    return inputs


# ---------------------------------------------------------------------------------------------- the model and the score


def _session(model: bytes, width: int) -> tuple[Any, str, str]:
    """An ONNX Runtime session on the verified bytes, its input name and its probability output."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: some converters' models warn on every run
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exception classes
        raise BundleRefusedError(f"ONNX Runtime cannot run {MODEL}: {exc}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or list(inputs[0].shape)[1:] != [width]:
        shown = [(i.name, i.type, i.shape) for i in inputs]
        raise BundleRefusedError(f"{MODEL} must take one float tensor [N, {width}], it takes {shown}")
    floats = [o for o in session.get_outputs() if o.type == "tensor(float)"]
    chosen = [o for o in floats if o.name in PROBABILITY_OUTPUTS] or floats
    if len(chosen) != 1:
        raise BundleRefusedError(f"cannot tell which output of {MODEL} holds the probabilities")
    return session, str(inputs[0].name), str(chosen[0].name)


@dataclass(frozen=True)
class BundleModel:
    """A verified bundle opened for scoring: spec rules, thresholds, deployment record and the ONNX session."""

    spec: SpecRules
    warning: float
    critical: float
    deployment: dict[str, Any]
    model_sha256: str
    publisher: str
    runner_sha256: str
    session: Any  # onnxruntime.InferenceSession (an untyped library)
    input_name: str
    output_name: str

    def predict(self, row: np.ndarray) -> float:
        """P(outcome) for one model row."""
        x = np.asarray(row, dtype=np.float32).reshape(1, -1)
        try:
            (out,) = self.session.run([self.output_name], {self.input_name: x})
        except Exception as exc:  # onnxruntime's untyped errors (e.g. an allocation refused): reported, not a crash
            raise RunnerError(f"the model failed at inference: {str(exc).splitlines()[0][:300]}") from None
        probs = np.asarray(out, dtype=np.float64)
        p = float(probs[0, 1] if probs.ndim == 2 and probs.shape[1] == 2 else probs.reshape(-1)[0])
        if not 0.0 <= p <= 1.0:
            raise RunnerError(f"the model returned {p}, not a probability")
        return p


def open_model(bundle: VerifiedBundle) -> BundleModel:
    """Parse the verified spec and deployment record, then (only now) let ONNX Runtime load the model bytes."""
    try:
        spec_doc, deployment = json.loads(bundle.files[SPEC]), json.loads(bundle.files[DEPLOYMENT])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleRefusedError(f"{bundle.path}: the spec or deployment record is not JSON: {exc}") from None
    if not isinstance(spec_doc, dict) or not isinstance(deployment, dict):
        raise BundleRefusedError(f"{bundle.path}: the spec and deployment record must be JSON objects")
    spec = read_spec(spec_doc)
    model_sha256 = str(bundle.manifest["files"][MODEL])
    if deployment.get("model_sha256") != model_sha256:
        raise BundleRefusedError(f"{bundle.path}: the deployment record names another model than {MODEL}")
    warning, critical = _check_thresholds(bundle.manifest["thresholds"], "thresholds")
    session, input_name, output_name = _session(bundle.files[MODEL], len(spec.features))
    runner = str(bundle.manifest["files"][RUNNER])
    return BundleModel(
        spec, warning, critical, deployment, model_sha256, bundle.publisher, runner, session, input_name, output_name
    )


@dataclass(frozen=True)
class Result:
    """A scored patient: probability, card indicator, and each feature's logit share for linear models."""

    probability: float
    indicator: str
    contributions: tuple[tuple[FeatureRule, float], ...] | None  # largest |share| first; None when not linear
    assembled: Assembled


def indicator_for(probability: float, warning: float, critical: float) -> str:
    """`info`, `warning` or `critical` by the bundle's thresholds (as the CDS cards do)."""
    if probability >= critical:
        return "critical"
    return "warning" if probability >= warning else "info"


def score(model: BundleModel, inputs: Mapping[str, object]) -> Result:
    """Score one patient: inputs → row → probability, indicator and (linear models) exact logit contributions."""
    assembled = assemble(model.spec, inputs)
    probability = model.predict(assembled.row)
    shares = None
    if model.spec.terms:
        pairs = zip(model.spec.features, model.spec.terms, assembled.row, strict=True)
        unsorted = [(rule, coef * (float(x) - mean) / scale) for rule, (coef, mean, scale), x in pairs]
        shares = tuple(sorted(unsorted, key=lambda item: -abs(item[1])))
    return Result(probability, indicator_for(probability, model.warning, model.critical), shares, assembled)


# ---------------------------------------------------------------------------------------------- output


def result_json(model: BundleModel, result: Result) -> dict[str, Any]:
    """Machine output of a score (no patient identifier: the inputs file carries feature values only)."""
    body: dict[str, Any] = {
        "model": {"name": model.spec.name, "version": model.spec.version, "sha256": model.model_sha256},
        "model_sha256": model.model_sha256,
        "site": model.deployment.get("site"),
        "report_id": model.deployment.get("report_id"),
        "publisher_fingerprint": model.publisher,
        "probability": result.probability,
        "indicator": result.indicator,
        "thresholds": {"warning": model.warning, "critical": model.critical},
        "inputs": result.assembled.values,
        "imputed": list(result.assembled.imputed),
        "contributions": None,
    }
    if result.contributions is None:
        body["contributions_unavailable"] = "the model is not linear (the spec has no linear_model)"
    else:
        body["contributions"] = [
            {"feature": rule.name, "label_ko": rule.label_ko, "label_en": rule.label_en, "logit_share": share}
            for rule, share in result.contributions
        ]
    return body


def _shown(rule: FeatureRule, value: float, ko: bool) -> str:
    if rule.unit == "a":  # UCUM's year, for age
        return f"{value:g}세" if ko else f"{value:g} years"
    if not rule.indicator:
        return f"{value:g} {rule.unit}"
    if value:
        return "예" if ko else "yes"
    return "아니오" if ko else "no"


def render_text(model: BundleModel, result: Result, *, locale: str = "ko", top: int = TOP_CONTRIBUTIONS) -> str:
    """Human output of a score, in Korean or English."""
    ko = locale == "ko"
    level = LEVELS[result.indicator][0 if ko else 1]
    site, report = model.deployment.get("site", "?"), model.deployment.get("report_id", "?")
    lines = [
        f"{model.spec.name} {model.spec.version} · sha256 {model.model_sha256[:16]}… · site {site} · report {report}",
        f"{'게시자 키' if ko else 'publisher key'} {model.publisher[:16]}… "
        f"({'서명 확인됨' if ko else 'signature verified'})",
        f"{'위험도' if ko else 'risk'} {result.probability:.1%} → {result.indicator} ({level}); "
        f"{'기준' if ko else 'thresholds'}: warning ≥ {model.warning:.0%}, critical ≥ {model.critical:.0%}",
    ]
    if result.contributions is None:
        lines.append(
            "기여도 없음: 선형 모델이 아님(명세에 linear_model 없음)"
            if ko
            else "contributions unavailable: the model is not linear (the spec has no linear_model)"
        )
    else:
        lines.append(
            "가장 크게 기여한 입력 (로짓 기여, +는 위험 증가):"
            if ko
            else "top contributions (logit share, + raises the risk):"
        )
        for rule, share in result.contributions[:top]:
            shown = _shown(rule, result.assembled.values[rule.name], ko)
            assumed = (
                (" (기록 없음, 가정값)" if ko else " (no value, imputed)")
                if rule.name in result.assembled.imputed
                else ""
            )
            lines.append(f"  {rule.label_ko if ko else rule.label_en}: {shown}{assumed}  {share:+.2f}")
    return "\n".join(lines)


def verify_summary(bundle: VerifiedBundle) -> dict[str, Any]:
    """What `verify` prints: the signed manifest's facts and whether this runner is the one the bundle carries."""
    this_runner = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return {
        "bundle": str(bundle.path),
        "verified": True,
        "publisher_fingerprint": bundle.publisher,
        "signed_at": bundle.manifest.get("signed_at"),
        "thresholds": bundle.manifest["thresholds"],
        "files": bundle.manifest["files"],
        "this_runner_is_the_signed_one": hmac.compare_digest(this_runner, str(bundle.manifest["files"][RUNNER])),
    }


# ---------------------------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_bundle.py", description="Verify and score a signed dari offline bundle.")
    commands = parser.add_subparsers(dest="command", required=True)
    fp = commands.add_parser("fingerprint", help="print the SHA-256 fingerprint of an Ed25519 public key (PEM)")
    fp.add_argument("public_key", type=Path)
    for name, help_text in (("verify", "verify the bundle only"), ("score", "verify, then score one patient")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("bundle", type=Path)
        trust = sub.add_mutually_exclusive_group(required=True)
        trust.add_argument("--public-key", type=Path, help="the publisher's Ed25519 public key (PEM) you trust")
        trust.add_argument("--fingerprint", help="SHA-256 fingerprint of the publisher key you trust")
        sub.add_argument("--format", choices=("text", "json"), default="text")
        if name == "score":
            sub.add_argument("--inputs", type=Path, required=True, help="JSON object of feature values ('-': stdin)")
            sub.add_argument("--locale", choices=("ko", "en"), default="ko")
            sub.add_argument("--top", type=int, default=TOP_CONTRIBUTIONS, help="contributions to list")
    return parser


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the public key: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 done, 2 bad arguments or inputs, 3 bundle refused)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fingerprint":
            print(fingerprint(load_public_key(_read_key_file(args.public_key), source=str(args.public_key))))
            return 0
        pem = _read_key_file(args.public_key) if args.public_key else None
        bundle = verify(args.bundle, public_key_pem=pem, trusted_fingerprint=args.fingerprint)
        if args.command == "verify":
            summary = verify_summary(bundle)
            print(json.dumps(summary, indent=2) if args.format == "json" else f"verified, publisher {bundle.publisher}")
            return 0
        inputs = read_inputs(args.inputs)  # read before the session opens: a bad file costs no model load
        model = open_model(bundle)
        result = score(model, inputs)
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.format == "json":
        print(json.dumps(result_json(model, result), ensure_ascii=False))
    else:
        print(render_text(model, result, locale=args.locale, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
