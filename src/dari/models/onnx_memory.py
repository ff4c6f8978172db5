"""How much memory an ONNX graph may ask for: a check at load, and a cap on what inference may allocate.

A model file of a few hundred bytes can ask ONNX Runtime for tens of gigabytes (a ConstantOfShape or Expand to
a huge constant shape), which on a shared site node or a CDS server ends in an out-of-memory kill or a 500. Two
defences, because neither alone is enough:

1. At load (`graph_memory_problem`): ONNX shape inference (with data propagation, so shapes computed from
   constants are known) at the batch size dari runs (`INFERENCE_BATCH` rows); every tensor whose size is then
   known (graph inputs, outputs, intermediates, initialisers) must stay under `MAX_TENSOR_BYTES`, and all of
   them together under `MAX_GRAPH_BYTES`. The model is refused before any session runs it.
2. At inference (`capped_session_options`): sessions allocate from one process-wide ONNX Runtime arena capped
   at `INFERENCE_ARENA_BYTES` (`session.use_env_allocators`), so a tensor whose size depends on the input
   values (unknowable at load) fails that one run with an error instead of taking the machine.

Limits: the load check sums tensors as if all were alive at once (an upper bound: the runtime reuses buffers);
sequence/map and string tensors are not sized; the arena counts what ONNX Runtime allocates through it, not a
kernel's own scratch memory, so the cap is a strong bound, not an exact one.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import onnx
import onnxruntime as ort

INFERENCE_BATCH = 4096  # rows per session run: a site scores its cohort in chunks of this size
MAX_TENSOR_BYTES = 256 * 1024 * 1024
MAX_GRAPH_BYTES = 1024 * 1024 * 1024
INFERENCE_ARENA_BYTES = 2 * 1024 * 1024 * 1024
_arena_lock = threading.Lock()
_arena_ready = False


def _element_bytes(elem_type: int) -> int | None:
    """Bytes per element of an ONNX tensor type (None for strings and unknown types)."""
    if elem_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    try:
        return int(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).itemsize)
    except (KeyError, TypeError, ValueError):
        return None


def _known_bytes(value: onnx.ValueInfoProto) -> int | None:
    """A tensor's size in bytes when its type and every dimension are known, else None."""
    kind = value.type
    if kind.WhichOneof("value") != "tensor_type" or not kind.tensor_type.HasField("shape"):
        return None
    size = _element_bytes(kind.tensor_type.elem_type)
    dims = kind.tensor_type.shape.dim
    if size is None or not all(d.HasField("dim_value") for d in dims):
        return None
    return size * math.prod(max(int(d.dim_value), 0) for d in dims)


def _with_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy whose graph inputs have their first (batch) dimension fixed at `batch` where it is symbolic."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    initialisers = {t.name for t in fixed.graph.initializer}
    for value in fixed.graph.input:
        if value.name in initialisers or value.type.WhichOneof("value") != "tensor_type":
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = batch
    return fixed


def _initialiser_bytes(tensor: onnx.TensorProto) -> int:
    size = _element_bytes(tensor.data_type) or 1
    return size * math.prod(max(int(d), 0) for d in tensor.dims)


def graph_memory_problem(model: onnx.ModelProto, *, batch: int = INFERENCE_BATCH) -> str | None:
    """Why the graph's known tensors exceed the caps at `batch` rows (the model must be refused), or None."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_with_batch(model, batch), strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as exc:
        return f"ONNX shape inference failed: {str(exc).splitlines()[0]}"
    graph = inferred.graph
    sized: list[tuple[str, int]] = [(t.name, _initialiser_bytes(t)) for t in graph.initializer]
    for value in (*graph.input, *graph.value_info, *graph.output):
        n = _known_bytes(value)
        if n is not None:
            sized.append((value.name, n))
    for name, n in sized:
        if n > MAX_TENSOR_BYTES:
            return (
                f"tensor {name!r} would take {n:,} bytes at {batch} rows, above the {MAX_TENSOR_BYTES:,}-byte "
                "limit per tensor; the model is refused before it runs"
            )
    total = sum(n for _, n in sized)
    if total > MAX_GRAPH_BYTES:
        return (
            f"the graph's tensors would take {total:,} bytes at {batch} rows, above the {MAX_GRAPH_BYTES:,}-byte "
            "limit; the model is refused before it runs"
        )
    return None


def capped_session_options() -> ort.SessionOptions:
    """Session options that allocate from the process's capped arena (registered once, on first use)."""
    global _arena_ready
    with _arena_lock:
        if not _arena_ready:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            # kSameAsRequested (1): grow by what is asked, so the cap is reached only by real demand
            config = ort.OrtArenaCfg({"max_mem": INFERENCE_ARENA_BYTES, "arena_extend_strategy": 1})
            ort.create_and_register_allocator(info, config)
            _arena_ready = True
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: some converters' models warn on every run; failures raise
    options.add_session_config_entry("session.use_env_allocators", "1")
    return options
