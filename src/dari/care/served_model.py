"""The model a CDS service serves: ONNX graph, feature spec and model card, loaded once and checked together."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from dari.errors import InputError
from dari.models import FeatureSpec, ModelCard, OnnxModel, linear_contributions, load_card, load_spec, sha256_file
from dari.models.reference import CARD_FILE, MODEL_FILE, SPEC_FILE, reference_model_paths
from dari.models.tree_shap import TreeShapExplainer, is_tree_ensemble, tree_explainer

Explanation = Literal["linear", "tree_shap"]


@dataclass(frozen=True)
class Score:
    """A probability and each feature's contribution: the exact share of the logit for linear models, the SHAP
    value against the spec's reference rows for tree ensembles; empty when the model cannot be explained."""

    probability: float
    contributions: dict[str, float]
    explanation: Explanation | None = None


@dataclass(frozen=True)
class ServedModel:
    """A registered model: the three files, with the ONNX and spec hashes checked against the card."""

    spec: FeatureSpec
    model: OnnxModel
    card: ModelCard
    tree_shap: TreeShapExplainer | None = None
    # condition input → SNOMED CT codes the site's own vocabulary puts in its concept set (empty: the shipped
    # hierarchy only); loaded once at start by `with_site_vocabulary`
    site_snomed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    site_notes: tuple[str, ...] = ()

    @classmethod
    def load(cls, where: str | Path) -> ServedModel:
        """`reference` (the shipped model) or a folder holding model.onnx, features.json and model_card.json."""
        if str(where) == "reference":
            paths = reference_model_paths()
            model_path, spec_path, card_path = paths.model, paths.spec, paths.card
        else:
            folder = Path(where)
            model_path, spec_path, card_path = folder / MODEL_FILE, folder / SPEC_FILE, folder / CARD_FILE
        card = load_card(card_path)
        spec = load_spec(spec_path)
        if sha256_file(spec_path) != card.feature_spec_sha256:
            raise InputError("the feature spec's SHA-256 differs from the model card's", file=str(spec_path))
        if (spec.name, spec.version) != (card.name, card.version):
            raise InputError(
                f"spec {spec.name} {spec.version} and card {card.name} {card.version} do not match", file=str(card_path)
            )
        model = OnnxModel.load(model_path, spec=spec, expected_sha256=card.model_sha256)
        return cls(spec, model, card, _tree_shap(model_path, spec, model))

    def with_site_vocabulary(self, cdm: str | Path) -> ServedModel:
        """This model with its condition concept sets resolved through the site CDM's own vocabulary, so that the
        FHIR path counts the SNOMED codes the CDM path counts (a read-only look at concept, concept_ancestor and
        concept_relationship; the CDM's patient tables are not read)."""
        from dari.cdm.store import open_store
        from dari.models.concept_sets import resolve_spec_concepts, snomed_codes_of

        store = open_store(cdm)
        try:
            resolution = resolve_spec_concepts(store, self.spec, site=str(cdm))
            codes = snomed_codes_of(store, resolution)
        finally:
            store.close()
        notes = tuple(f"{name}: {why}" for name, s in resolution.sets.items() for why in s.absent)
        return replace(self, site_snomed=codes, site_notes=notes)

    def score(self, row: np.ndarray) -> Score:
        """P(outcome) for one input row, with each feature's contribution when the model can be explained."""
        # predict_proba raises ModelOutputError for NaN, infinite or out-of-range output, naming the model
        probability = float(self.model.predict_proba(row.reshape(1, -1))[0])
        if self.spec.linear_model is not None:
            return Score(probability, linear_contributions(self.spec, row), "linear")
        if self.tree_shap is not None:
            values = self.tree_shap.contributions(row)
            if np.isfinite(values).all():
                return Score(probability, dict(zip(self.spec.feature_names, values.tolist(), strict=True)), "tree_shap")
        return Score(probability, {})


def _tree_shap(model_path: Path, spec: FeatureSpec, model: OnnxModel) -> TreeShapExplainer | None:
    """TreeSHAP for a tree-ensemble model whose spec declares reference rows (None otherwise, or when the trees
    cannot be read so that they reproduce ONNX Runtime's output: then no contributions are shown)."""
    if spec.linear_model is not None or spec.explanation_background is None:
        return None
    graph = onnx.load(str(model_path))  # protobuf, checked against the card's hash above; no code runs
    if not is_tree_ensemble(graph):
        return None
    return tree_explainer(graph, spec.explanation_background, model.predict_proba)
