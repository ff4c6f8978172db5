"""The reference model's ONNX graph: a fixed filter bank, a per-pixel MLP head, and max pooling.

input (N, 1, H, W) → Conv(fixed bank) → ReLU → r (N, K, H, W)
heatmap = Sigmoid(v · ReLU(W r(x, y) + c) + b)  (N, 1, H, W)  the probability of a nodule centred at (x, y)
score   = max_xy heatmap                        (N, 1)         the image-level probability

The heatmap is the model's own activation map (a small per-pixel MLP as two 1×1 convolutions over the bank's
responses, in the spirit of a class activation map, Zhou et al. 2016), and the score is its maximum, so the
finding's location is where the score came from. The bank is fixed: difference-of-Gaussians blob detectors at
nodule scales (bright and dark), Gaussian means for context (a lung is dark around a nodule) and the pixel itself;
only the head (W, c, v, b) is learned, with hard-negative mining (`scripts/train_imaging_model.py`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

SIGMAS_PX = (1.25, 1.75, 2.5, 3.5)  # DoG centre σ in pixels of the spec's spacing; the surround is 1.6 σ
SURROUND = 1.6
CONTEXT_PX = (3.0, 8.0)  # Gaussian means around a pixel
OPSET = 17
FloatArray = npt.NDArray[np.float32]


def _gaussian(r2: npt.NDArray[np.float64], sigma: float) -> npt.NDArray[np.float64]:
    g = np.exp(-r2 / (2 * sigma**2))
    normalised: npt.NDArray[np.float64] = g / g.sum()
    return normalised


def filter_bank() -> FloatArray:
    """The fixed kernels (K, 1, k, k): DoG bright and dark per scale, then the context means, then identity."""
    half = int(np.ceil(3 * max(SURROUND * max(SIGMAS_PX), max(CONTEXT_PX))))
    axis = np.arange(-half, half + 1, dtype=np.float64)
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    kernels = []
    for sigma in SIGMAS_PX:
        dog = _gaussian(r2, sigma) - _gaussian(r2, SURROUND * sigma)
        dog = dog / np.abs(dog).sum() * 4  # responses of the order of the input's contrast
        kernels.extend([dog, -dog])
    kernels.extend(_gaussian(r2, sigma) for sigma in CONTEXT_PX)
    identity = np.zeros_like(r2)
    identity[half, half] = 1.0
    kernels.append(identity)
    return np.stack(kernels)[:, np.newaxis].astype(np.float32)


def _gaussians() -> tuple[list[float], npt.NDArray[np.float64]]:
    """The distinct Gaussian σ of the bank and how each bank channel combines them: (σ list, (K, G) weights)."""
    sigmas = [*SIGMAS_PX, *(SURROUND * s for s in SIGMAS_PX), *CONTEXT_PX]
    half = int(np.ceil(3 * max(SURROUND * max(SIGMAS_PX), max(CONTEXT_PX))))
    axis = np.arange(-half, half + 1, dtype=np.float64)
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    n, g = len(SIGMAS_PX), len(sigmas)
    mix = np.zeros((2 * n + len(CONTEXT_PX) + 1, g + 1))  # the last column is the pixel itself
    for i, sigma in enumerate(SIGMAS_PX):
        scale = 4 / np.abs(_gaussian(r2, sigma) - _gaussian(r2, SURROUND * sigma)).sum()  # as in filter_bank
        mix[2 * i, i], mix[2 * i, n + i] = scale, -scale
        mix[2 * i + 1, i], mix[2 * i + 1, n + i] = -scale, scale
    for j in range(len(CONTEXT_PX)):
        mix[2 * n + j, 2 * n + j] = 1.0
    mix[-1, -1] = 1.0
    return sigmas, mix


def _bank_nodes(input_name: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], int]:
    """`filter_bank` computed separably: each Gaussian as a row then a column pass, then fixed 1×1 mixing.

    A Gaussian on the grid is the outer product of its 1-D profile, and zero padding commutes with that, so this is
    the same linear map as the 2-D bank (to float rounding) at about a twentieth of the multiply-adds.
    """
    sigmas, mix = _gaussians()
    half = filter_bank().shape[-1] // 2
    axis = np.arange(-half, half + 1, dtype=np.float64)
    rows = np.stack([np.exp(-(axis**2) / (2 * s**2)) / np.exp(-(axis**2) / (2 * s**2)).sum() for s in sigmas])
    identity = np.zeros_like(axis)
    identity[half] = 1.0
    rows = np.vstack([rows, identity])
    g = rows.shape[0]
    inits = [
        numpy_helper.from_array(rows[:, np.newaxis, np.newaxis, :].astype(np.float32), "gauss_row"),
        numpy_helper.from_array(rows[:, np.newaxis, :, np.newaxis].astype(np.float32), "gauss_col"),
        numpy_helper.from_array(mix[:, :, np.newaxis, np.newaxis].astype(np.float32), "mix"),
    ]
    nodes = [
        helper.make_node("Conv", [input_name, "gauss_row"], ["blur_row"], pads=[0, half, 0, half]),
        helper.make_node("Conv", ["blur_row", "gauss_col"], ["blurred"], pads=[half, 0, half, 0], group=g),
        helper.make_node("Conv", ["blurred", "mix"], ["responses"]),
        helper.make_node("Relu", ["responses"], ["r"]),
    ]
    return nodes, inits, int(mix.shape[0])


def _model(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    name: str,
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dari")
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    onnx.checker.check_model(model)
    return model


def feature_graph(input_name: str = "image") -> onnx.ModelProto:
    """The bank only: (N, 1, H, W) → its responses (N, K, H, W), what the head is trained on."""
    nodes, inits, k = _bank_nodes(input_name)
    return _model(
        nodes,
        inits,
        "dari-imaging-features",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", k, "H", "W"])],
    )


def scoring_graph(
    hidden_w: FloatArray,
    hidden_b: FloatArray,
    out_w: FloatArray,
    out_b: float,
    *,
    input_name: str = "image",
    score: str = "score",
    heatmap: str = "heatmap",
) -> onnx.ModelProto:
    """The full model from the trained per-pixel head: hidden (K, J) + (J,), output (J,) + bias, as 1×1 convs."""
    nodes, inits, k = _bank_nodes(input_name)
    j = hidden_b.shape[0]
    if hidden_w.shape != (k, j) or out_w.shape != (j,):
        raise ValueError(
            f"the head must be ({k}, J), (J,), (J,), got {hidden_w.shape}, {hidden_b.shape}, {out_w.shape}"
        )
    inits += [
        numpy_helper.from_array(hidden_w.T.reshape(j, k, 1, 1).astype(np.float32), "w1"),
        numpy_helper.from_array(hidden_b.astype(np.float32), "b1"),
        numpy_helper.from_array(out_w.reshape(1, j, 1, 1).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([out_b], dtype=np.float32), "b2"),
    ]
    nodes += [
        helper.make_node("Conv", ["r", "w1", "b1"], ["hidden_pre"]),
        helper.make_node("Relu", ["hidden_pre"], ["hidden"]),
        helper.make_node("Conv", ["hidden", "w2", "b2"], ["logit_map"]),
        helper.make_node("Sigmoid", ["logit_map"], [heatmap]),
        helper.make_node("GlobalMaxPool", [heatmap], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], [score], axis=1),
    ]
    return _model(
        nodes,
        inits,
        "dari-imaging-reference",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [
            helper.make_tensor_value_info(score, TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info(heatmap, TensorProto.FLOAT, ["N", 1, "H", "W"]),
        ],
    )
