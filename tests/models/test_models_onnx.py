"""OnnxModel: scores equal scikit-learn's; pickles, archives and broken files are refused, never loaded."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dari.errors import InputError
from dari.models.onnx_model import ModelFileError, OnnxModel, sha256_file
from dari.models.reference import export_onnx, fit_pipeline
from dari.models.reference_spec import reference_spec

SPEC = reference_spec()


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.uniform(18, 95, n),
            rng.integers(0, 2, n),
            rng.uniform(30, 60, n),
            rng.uniform(4.5, 11, n),
            rng.uniform(95, 190, n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
        ]
    ).astype(np.float64)
    logit = -2 + 0.03 * (x[:, 0] - 65) - 0.1 * (x[:, 2] - 45) + 0.6 * x[:, 6]
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return x, y


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A pipeline fitted on random rows and its ONNX export."""
    x, y = _rows(2000, 1)
    pipe = fit_pipeline(x, y)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(export_onnx(pipe, SPEC.n_features))
    return pipe, path


def test_onnx_scores_equal_sklearn_predict_proba(fitted: tuple[Any, Path]) -> None:
    # Prepare
    pipe, path = fitted
    x, _ = _rows(500, 2)
    # Execute
    model = OnnxModel.load(path, spec=SPEC)
    p = model.predict_proba(x)
    # Assert
    np.testing.assert_allclose(p, pipe.predict_proba(x)[:, 1], rtol=0, atol=1e-6)
    assert model.sha256 == sha256_file(path) and model.n_features == 7


def test_onnx_one_row_and_input_checks(fitted: tuple[Any, Path]) -> None:
    # Prepare
    pipe, path = fitted
    model = OnnxModel.load(path)
    x, _ = _rows(1, 3)
    # Execute
    p = model.predict_proba(x[0])
    # Assert
    assert p.shape == (1,) and p[0] == pytest.approx(pipe.predict_proba(x)[0, 1], abs=1e-6)
    with pytest.raises(InputError, match="shape"):
        model.predict_proba(np.zeros((2, 6)))
    with pytest.raises(InputError, match="NaN"):
        model.predict_proba(np.full((1, 7), np.nan))


def test_onnx_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    # Prepare: a pickle whose loading would create a file (it must never run)
    marker = tmp_path / "pwned"
    path = tmp_path / "model.onnx"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    # Execute
    with pytest.raises(ModelFileError, match="pickle") as info:
        OnnxModel.load(path)
    # Assert
    assert not marker.exists()
    assert str(path) in str(info.value)


def test_onnx_sklearn_pickle_is_refused(tmp_path: Path) -> None:
    # Prepare
    x, y = _rows(200, 4)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(x, y)))
    # Execute / Assert
    with pytest.raises(ModelFileError, match="never unpickles"):
        OnnxModel.load(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty"), (b"hello, I am not a model", "not an ONNX model"), (b"\x0a\x05hello", "not an ONNX model")],
)
def test_onnx_garbage_is_refused(tmp_path: Path, content: bytes, words: str) -> None:
    # Prepare
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    # Execute / Assert
    with pytest.raises(ModelFileError, match=words):
        OnnxModel.load(path)


def test_onnx_zip_archive_is_refused(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "model.joblib"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", b"\x80\x04K\x01.")
    # Execute / Assert
    with pytest.raises(ModelFileError, match="zip archive"):
        OnnxModel.load(path)


def test_onnx_truncated_file_is_refused(fitted: tuple[Any, Path], tmp_path: Path) -> None:
    # Prepare
    _, good = fitted
    path = tmp_path / "cut.onnx"
    path.write_bytes(good.read_bytes()[:-40])
    # Execute / Assert
    with pytest.raises(ModelFileError):
        OnnxModel.load(path)


def test_onnx_width_must_match_spec(tmp_path: Path) -> None:
    # Prepare
    rng = np.random.default_rng(0)
    x6 = rng.normal(size=(300, 6))
    pipe = fit_pipeline(x6, x6[:, 0] > 0)
    path = tmp_path / "six.onnx"
    path.write_bytes(export_onnx(pipe, 6))
    # Execute / Assert
    with pytest.raises(ModelFileError, match=r"takes 6 inputs but spec ckd_progression_1y 1\.0\.0 has 7 features"):
        OnnxModel.load(path, spec=SPEC)


def test_onnx_zipmap_output_is_refused(tmp_path: Path) -> None:
    # Prepare: default skl2onnx export gives a list of dicts, not a tensor
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    x, y = _rows(300, 6)
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 7]))]).SerializeToString())
    # Execute / Assert
    with pytest.raises(ModelFileError, match="zipmap=False"):
        OnnxModel.load(path)


def test_onnx_expected_sha256_mismatch_is_refused(fitted: tuple[Any, Path]) -> None:
    # Prepare
    _, path = fitted
    # Execute / Assert
    with pytest.raises(ModelFileError, match="differs from the expected"):
        OnnxModel.load(path, expected_sha256="0" * 64)


def test_onnx_checker_failure_is_refused(fitted: tuple[Any, Path], tmp_path: Path) -> None:
    # Prepare: a graph whose node reads an input that does not exist
    _, good = fitted
    model = onnx.load_model_from_string(good.read_bytes())
    model.graph.node[0].input[0] = "no_such_tensor"
    path = tmp_path / "broken.onnx"
    path.write_bytes(model.SerializeToString())
    # Execute / Assert
    with pytest.raises(ModelFileError, match=r"checker refused|onnxruntime cannot run"):
        OnnxModel.load(path)


class _Exploit:
    """Unpickling this would create a file: proof that a loader ran pickle."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (Path.write_text, (Path(self.target), "pwned"))  # type: ignore[return-value]


def test_onnx_memory_check_passes_the_reference_model_and_counts_its_tensors() -> None:
    # Prepare
    from dari.models.onnx_memory import graph_memory_problem
    from dari.models.reference import reference_model_paths

    graph = onnx.load(str(reference_model_paths().model))
    # Execute / Assert: a real model is far below the caps, at the service's batch of 1 and the site's 4,096
    assert graph_memory_problem(graph) is None
    assert graph_memory_problem(graph, batch=1) is None


def test_onnx_initialiser_over_the_tensor_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a 1 MiB weight against a cap lowered to 64 KiB (the real cap is 256 MiB)
    from onnx import TensorProto, helper, numpy_helper

    from dari.models import onnx_memory

    monkeypatch.setattr(onnx_memory, "MAX_TENSOR_BYTES", 64 * 1024)
    weight = numpy_helper.from_array(np.zeros((512, 512), dtype=np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 512])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 512])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    # Execute
    problem = onnx_memory.graph_memory_problem(model, batch=1)
    # Assert
    assert problem is not None and "'w'" in problem and "1,048,576 bytes" in problem
