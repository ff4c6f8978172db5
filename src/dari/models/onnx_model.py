"""Loading and scoring a model file safely: ONNX only, checked, hashed, run by onnxruntime on the CPU.

A model file is code-like input from outside the hospital. Pickle (and joblib) run arbitrary code when loaded,
so dari never unpickles: only an ONNX protobuf is accepted, checked with `onnx.checker`, refused when it points
at external data files, and the bytes that were hashed are the bytes the session runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from dari.errors import InputError
from dari.models.feature_spec import FeatureSpec

MAX_MODEL_BYTES = 256 * 1024 * 1024
PROBABILITY_OUTPUTS = ("probabilities", "output_probability", "probability")
_PICKLE_PROTOCOLS = range(2, 6)  # pickle protocol 2+ starts with 0x80 then the protocol number
_ZIP_MAGIC = b"PK\x03\x04"  # torch/joblib archives hold pickles too


class ModelFileError(InputError):
    """A model file that is not a usable ONNX model."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_non_onnx(data: bytes, file: str) -> None:
    if len(data) >= 2 and data[0] == 0x80 and data[1] in _PICKLE_PROTOCOLS:
        raise ModelFileError("this is a Python pickle, not ONNX; dari never unpickles model files", file=file)
    if data.startswith(_ZIP_MAGIC):
        raise ModelFileError("this is a zip archive (e.g. joblib/torch), not ONNX; export the model to ONNX", file=file)
    if not data:
        raise ModelFileError("the model file is empty", file=file)


def _parse(data: bytes, file: str) -> onnx.ModelProto:
    _refuse_non_onnx(data, file)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise ModelFileError(f"not an ONNX model (protobuf does not parse: {exc})", file=file) from None
    if not model.graph.node or not model.opset_import:
        raise ModelFileError("not an ONNX model (no graph or no opset)", file=file)
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ModelFileError(f"initializer {tensor.name!r} points at external data; refused", file=file)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelFileError(f"ONNX checker refused the model: {str(exc).splitlines()[0]}", file=file) from None
    return model


@dataclass(frozen=True)
class OnnxModel:
    """A binary risk model in ONNX: `predict_proba(X)` gives P(outcome) per row."""

    path: Path
    sha256: str
    n_features: int
    input_name: str
    output_name: str
    _session: Any = field(repr=False)  # onnxruntime.InferenceSession (an untyped library)

    @classmethod
    def load(cls, path: Path, *, spec: FeatureSpec | None = None, expected_sha256: str | None = None) -> OnnxModel:
        """Check, hash and open an ONNX file; with `spec`, its input width must equal the spec's feature count."""
        file = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_MODEL_BYTES:
                raise ModelFileError(f"model file is {size} bytes, above the {MAX_MODEL_BYTES}-byte limit", file=file)
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read model file: {exc.strerror}", file=file) from None
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise ModelFileError(f"sha256 {digest} differs from the expected {expected_sha256}", file=file)
        _parse(data, file)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: some converters' models warn on every run
        try:
            session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped exception classes
            raise ModelFileError(f"onnxruntime cannot run the model: {exc}", file=file) from None
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 2:
            shown = [(i.name, i.type, i.shape) for i in inputs]
            raise ModelFileError(f"the model must take one float tensor [N, features], it takes {shown}", file=file)
        width = inputs[0].shape[1]
        if not isinstance(width, int):
            raise ModelFileError(f"the model's input width must be fixed, got {width!r}", file=file)
        if spec is not None and width != spec.n_features:
            raise ModelFileError(
                f"the model takes {width} inputs but spec {spec.name} {spec.version} has {spec.n_features} features",
                file=file,
            )
        output = _probability_output(session, file)
        return cls(path, digest, width, inputs[0].name, output, session)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(outcome) for each row of x (n × n_features); refuses NaN or a wrong width rather than guessing."""
        rows = np.asarray(x, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise InputError(f"X must have shape (n, {self.n_features}), got {np.shape(x)}")
        if not np.isfinite(rows).all():
            raise InputError("x holds NaN or infinite values; assemble inputs with the spec first")
        (out,) = self._session.run([self.output_name], {self.input_name: rows})
        probs = np.asarray(out, dtype=np.float64)
        return probs[:, 1] if probs.ndim == 2 and probs.shape[1] == 2 else probs.reshape(-1)


def _probability_output(session: Any, file: str) -> str:
    """The float output holding class probabilities ([N, 2] → column 1 is P(outcome), or [N] / [N, 1])."""
    floats = [o for o in session.get_outputs() if o.type == "tensor(float)"]
    named = [o for o in floats if o.name in PROBABILITY_OUTPUTS]
    chosen = named or floats
    if len(chosen) != 1:
        shown = [(o.name, o.type) for o in session.get_outputs()]
        raise ModelFileError(
            f"cannot tell which output holds the probabilities: {shown} (export with zipmap=False)", file=file
        )
    shape = chosen[0].shape
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] not in (1, 2)):
        raise ModelFileError(f"the probability output must be [N], [N, 1] or [N, 2], got {shape}", file=file)
    return str(chosen[0].name)
