"""The model card: what a model is for, what it was built on, how well it did and where it must not be used.

Fields follow the CHAI Applied Model Card (release information, uses and directions, warnings, trust
ingredients, key metrics), with Korean and English text side by side so the same card serves a Korean hospital's
committee and an international reader. The card pins the model by the SHA-256 of its ONNX file.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import InputError

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Metric = Annotated[float, Field(allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Frozen):
    """The same statement in Korean and in English."""

    ko: str = Field(min_length=1)
    en: str = Field(min_length=1)


class TrainingData(_Frozen):
    """Where the development data came from (never the rows)."""

    site: str
    description: Text
    period_start: date
    period_end: date
    n: int = Field(ge=0)
    events: int = Field(ge=0)
    synthetic: bool
    how_to_rebuild: str  # the command that regenerates the data and the model


class TrainingSite(_Frozen):
    """One site of a federated training, as the hub saw it (protected counts only)."""

    site: str
    status: str
    n: int | None = None  # the site's protected (rounded) cohort size
    events: int | None = None
    rounds_pooled: int = Field(default=0, ge=0)
    data_from: str = ""  # month of the cohort's index dates (YYYY-MM), its min_cell-th earliest …
    data_to: str = ""  # … to its min_cell-th latest
    grant_id: str | None = None


class FederatedTraining(_Frozen):
    """How a federated model was trained: sites, rounds, strategy, privacy, grant and dates (issue 18)."""

    job_id: str
    engine: str
    model_family: str
    strategy: str
    aggregation: str
    rounds: int = Field(ge=0)
    rounds_completed: int = Field(ge=0)
    resumed_from: int = Field(default=0, ge=0)
    sites: tuple[TrainingSite, ...] = Field(min_length=1)
    dropped_out: dict[str, int] = Field(default_factory=dict)  # site → the first round it was missing
    grant_ids: tuple[str, ...] = ()
    privacy: dict[str, str | float | int | None] | None = None  # the DP/SecAgg record; None: no privacy mechanism
    started: str = ""
    finished: str = ""


class CardFeature(_Frozen):
    """An input as a reader of the card needs it: name, labels, code and unit, missing-value rule."""

    name: str
    label_ko: str
    label_en: str
    code: str  # e.g. "LOINC 98979-8", "SNOMED 73211009 (+ descendants) or KCD E10–E14", "Patient.birthDate"
    unit: str | None
    when_missing: str  # "required" or "imputed as <value>"


class Performance(_Frozen):
    """Discrimination and calibration in one setting (internal apparent, optimism-corrected, or external)."""

    setting: Literal["internal_apparent", "internal_optimism_corrected", "external"]
    site: str
    n: int = Field(ge=0)
    events: int = Field(ge=0)
    auroc: Metric | None
    calibration_slope: Metric | None
    calibration_in_the_large: Metric | None  # intercept with the model's logit as offset; 0 is ideal
    observed_expected: Metric | None  # events / Σ predicted risk; 1 is ideal
    brier: Metric | None
    note: Text | None = None


class SubgroupPerformance(_Frozen):
    """Performance within one subgroup at the development site (fairness check)."""

    attribute: Literal["sex", "age_band"]
    group: str
    n: int = Field(ge=0)
    events: int = Field(ge=0)
    auroc: Metric | None
    observed_expected: Metric | None


class ModelCard(_Frozen):
    """A CHAI-style applied model card for one model file."""

    card_format: Literal[1] = 1
    # Release information
    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    release_date: date
    release_stage: Literal["research", "pilot", "deployed"]
    developer: str
    contact: str
    summary: Text
    model_type: Text
    # Uses and directions
    intended_use: Text
    intended_users: Text
    target_population: Text
    out_of_scope: tuple[Text, ...] = Field(min_length=1)
    # Trust ingredients
    training_data: TrainingData
    training: FederatedTraining | None = None  # a model trained across sites: how
    features: tuple[CardFeature, ...] = Field(min_length=1)
    outputs: Text
    # Key metrics
    performance: tuple[Performance, ...] = Field(min_length=1)
    subgroups: tuple[SubgroupPerformance, ...] = ()
    # Warnings
    known_risks: tuple[Text, ...] = Field(min_length=1)
    fairness_considerations: tuple[Text, ...] = Field(min_length=1)
    regulatory_status: Text
    # What the card is about, exactly
    model_file: str
    model_sha256: Sha256
    feature_spec_file: str
    feature_spec_sha256: Sha256


def parse_card(text: str | bytes, *, source: str = "<model card>") -> ModelCard:
    """Validate a model card from JSON; errors name the file and the field."""
    try:
        return ModelCard.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        value = first.get("input")
        shown = f" (value {value!r})" if not isinstance(value, dict | list) else ""
        raise InputError(f"{first['msg']}{shown}", file=source, column=where or None) from None


def load_card(path: Path) -> ModelCard:
    """Read and validate a model card JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read model card: {exc.strerror}", file=str(path)) from None
    return parse_card(text, source=str(path))


def dump_card(card: ModelCard) -> str:
    """The card as UTF-8 JSON text (Korean kept readable), ending in a newline."""
    return json.dumps(card.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
