"""Loading and scoring a model file safely: ONNX only, checked, hashed, run by onnxruntime on the CPU.

A model file is code-like input from outside the hospital. Pickle (and joblib) run arbitrary code when loaded,
so dari never unpickles: only an ONNX protobuf is accepted, checked with `onnx.checker`, refused when it points
at external data files, and the bytes that were hashed are the bytes the session runs. Its memory is checked at
load and capped at inference (`dari.models.onnx_memory`); its outputs must be finite probabilities, else
`ModelOutputError` names the model, so a site job reports the failure and a CDS service answers 422.
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

from dari.errors import DariError, InputError
from dari.models.feature_spec import FeatureSpec
from dari.models.onnx_memory import INFERENCE_BATCH, capped_session_options, graph_memory_problem

MAX_MODEL_BYTES = 256 * 1024 * 1024
PROBABILITY_OUTPUTS = ("probabilities", "output_probability", "probability")
_PICKLE_PROTOCOLS = range(2, 6)  # pickle protocol 2+ starts with 0x80 then the protocol number
_ZIP_MAGIC = b"PK\x03\x04"  # torch/joblib archives hold pickles too


class ModelFileError(InputError):
    """A model file that is not a usable ONNX model."""


class ModelOutputError(DariError):
    """A model that failed at inference or gave no probability (NaN, infinite, outside [0, 1]); names the model."""

    exit_code = 6  # 5 is governance's refusal

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        super().__init__(f"model {model}: {message}")


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
        graph = _parse(data, file)
        problem = graph_memory_problem(graph)
        if problem is not None:
            raise ModelFileError(problem, file=file)
        options = capped_session_options()
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
        parts = [self._run(rows[i : i + INFERENCE_BATCH]) for i in range(0, rows.shape[0], INFERENCE_BATCH)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    @property
    def label(self) -> str:
        """How errors name the model: its file name and the start of its SHA-256."""
        return f"{self.path.name} (sha256 {self.sha256[:12]})"

    def _run(self, rows: np.ndarray) -> np.ndarray:
        """One session run of at most INFERENCE_BATCH rows, its output checked to be probabilities."""
        try:
            (out,) = self._session.run([self.output_name], {self.input_name: rows})
        except Exception as exc:  # onnxruntime's own untyped errors, e.g. the arena cap refusing an allocation
            first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ModelOutputError(self.label, f"failed at inference: {first}") from None
        probs = np.asarray(out, dtype=np.float64)
        probs = probs[:, 1] if probs.ndim == 2 and probs.shape[1] == 2 else probs.reshape(-1)
        if probs.shape != (rows.shape[0],):
            raise ModelOutputError(self.label, f"returned {probs.shape[0]} values for {rows.shape[0]} rows")
        bad = ~np.isfinite(probs)
        if bad.any():
            why = f"returned NaN or infinite values for {int(bad.sum())} of {bad.size} rows"
            raise ModelOutputError(self.label, why)
        outside = (probs < 0.0) | (probs > 1.0)
        if outside.any():
            raise ModelOutputError(self.label, f"returned values outside [0, 1] for {int(outside.sum())} rows")
        return probs


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
