"""A tree-ensemble model served as a CDS card: the card's contributions are SHAP values against the spec's
reference rows, equal to shap's on the trained model, and say so."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from care_helpers import BASE_URL, EhrKeys, hook_body
from fastapi.testclient import TestClient

from dari.care import CdsSettings, ServedModel, create_app
from dari.models import sha256_file
from dari.models.feature_spec import dump_spec
from dari.models.model_card import dump_card
from dari.models.reference import CARD_FILE, MODEL_FILE, SPEC_FILE, cohort_of

SERVICE = "dari-ckd-progression-patient-view"


@pytest.fixture(scope="module")
def tree_model(care_site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, np.ndarray]:
    """A gradient-boosting model of the reference spec trained on the care site, as a model folder (ONNX, spec with
    eight reference rows from k-means centres, card with their hashes), with the fitted object and the rows."""
    from skl2onnx import to_onnx
    from sklearn.cluster import KMeans
    from sklearn.ensemble import GradientBoostingClassifier

    reference = ServedModel.load("reference")
    _frame, x, y = cohort_of(care_site, reference.spec)
    fitted = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0).fit(x, y)
    graph = to_onnx(fitted, x[:1].astype(np.float32), options={id(fitted): {"zipmap": False}})
    centres = KMeans(n_clusters=8, n_init=4, random_state=0).fit(x).cluster_centers_
    folder = tmp_path_factory.mktemp("tree-model")
    (folder / MODEL_FILE).write_bytes(graph.SerializeToString())
    spec = reference.spec.model_copy(
        update={"linear_model": None, "explanation_background": tuple(tuple(map(float, c)) for c in centres)}
    )
    (folder / SPEC_FILE).write_text(dump_spec(spec), encoding="utf-8")
    card = reference.card.model_copy(
        update={
            "model_sha256": sha256_file(folder / MODEL_FILE),
            "feature_spec_sha256": sha256_file(folder / SPEC_FILE),
        }
    )
    (folder / CARD_FILE).write_text(dump_card(card), encoding="utf-8")
    return folder, fitted, centres


@pytest.fixture
def tree_client(settings: CdsSettings, tree_model: tuple[Path, Any, np.ndarray]) -> Iterator[TestClient]:
    app = create_app(settings, ServedModel.load(tree_model[0]))
    with TestClient(app, base_url=BASE_URL) as c:
        yield c
    app.state.feedback_store.close()


def test_care_tree_model_card_shows_shap_contributions(
    tree_client: TestClient,
    tree_model: tuple[Path, Any, np.ndarray],
    ehr_keys: EhrKeys,
    prefetch: Callable[..., dict[str, Any]],
) -> None:
    import shap

    # Prepare
    folder, fitted, centres = tree_model
    served = ServedModel.load(folder)
    token = ehr_keys.token(f"{BASE_URL}/cds-services/{SERVICE}")
    # Execute
    response = tree_client.post(
        f"/cds-services/{SERVICE}", json=hook_body(prefetch()), headers={"Authorization": f"Bearer {token}"}
    )
    # Assert: a card whose contributions are shap's values on the trained object for the same inputs
    assert response.status_code == 200, response.text
    card = response.json()["cards"][0]
    assert "SHAP" in card["detail"]
    inputs = card["extension"]["dari-inputs"]
    row = np.array([[float(inputs[name]) for name in served.spec.feature_names]])
    score = served.score(row[0])
    assert score.explanation == "tree_shap" and set(score.contributions) == set(served.spec.feature_names)
    expected = shap.TreeExplainer(
        fitted, data=centres, feature_perturbation="interventional", model_output="raw"
    ).shap_values(row)
    np.testing.assert_allclose(
        [score.contributions[n] for n in served.spec.feature_names], np.ravel(expected), atol=1e-6
    )
    logit = math.log(score.probability / (1 - score.probability))
    assert served.tree_shap is not None
    assert math.isclose(sum(score.contributions.values()) + served.tree_shap.expected_value, logit, abs_tol=1e-5)
    assert math.isclose(card["extension"]["dari-probability"], float(fitted.predict_proba(row)[0, 1]), abs_tol=1e-5)


def test_care_tree_model_without_reference_rows_shows_no_contributions(
    tree_model: tuple[Path, Any, np.ndarray], tmp_path: Path
) -> None:
    # Prepare: the same model, its spec declaring no reference rows
    folder, _fitted, _centres = tree_model
    copy = tmp_path / "no-background"
    copy.mkdir()
    served = ServedModel.load(folder)
    (copy / MODEL_FILE).write_bytes((folder / MODEL_FILE).read_bytes())
    (copy / SPEC_FILE).write_text(dump_spec(served.spec.model_copy(update={"explanation_background": None})), "utf-8")
    card = served.card.model_copy(update={"feature_spec_sha256": sha256_file(copy / SPEC_FILE)})
    (copy / CARD_FILE).write_text(dump_card(card), encoding="utf-8")
    # Execute
    bare = ServedModel.load(copy)
    score = bare.score(np.asarray(served.spec.explanation_background or ((),))[0])
    # Assert: scored, never explained on a guess
    assert bare.tree_shap is None and score.contributions == {} and score.explanation is None
    assert 0.0 <= score.probability <= 1.0
