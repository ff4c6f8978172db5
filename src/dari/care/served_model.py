"""The model a CDS service serves: ONNX graph, feature spec and model card, loaded once and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dari.errors import InputError
from dari.models import FeatureSpec, ModelCard, OnnxModel, linear_contributions, load_card, load_spec, sha256_file
from dari.models.reference import CARD_FILE, MODEL_FILE, SPEC_FILE, reference_model_paths


@dataclass(frozen=True)
class Score:
    """A probability and, for linear models, each feature's exact share of the logit."""

    probability: float
    contributions: dict[str, float]


@dataclass(frozen=True)
class ServedModel:
    """A registered model: the three files, with the ONNX and spec hashes checked against the card."""

    spec: FeatureSpec
    model: OnnxModel
    card: ModelCard

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
        return cls(spec, model, card)

    def score(self, row: np.ndarray) -> Score:
        """P(outcome) for one input row, with the linear contributions when the spec has a linear model."""
        probability = float(self.model.predict_proba(row.reshape(1, -1))[0])
        if not 0.0 <= probability <= 1.0:
            raise InputError(f"the model returned {probability}, not a probability")
        contributions = linear_contributions(self.spec, row) if self.spec.linear_model is not None else {}
        return Score(probability, contributions)
