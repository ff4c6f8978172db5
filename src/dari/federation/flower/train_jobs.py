"""Typed records of a federated training job: the request, each site's moments, each round's update, the run.

Like a validation job, a training job is one frozen pydantic request whose parameters the hub's ticket signs; the
site guard admits it once (`query.train_stats`), then answers at most the ticket's rounds of Flower `train`
messages. What leaves a site: its cohort's protected size and, when the cohort, its events and its non-events
all reach the minimum cell, the per-feature mean and variance (`TrainStats`); then, each round, the parameters of
its local update with the protected size as its weight (`TrainUpdate`). Never a row, never a per-record gradient.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRules, ProtectedCount
from dari.models.feature_spec import FeatureSpec, parse_spec
from dari.signing import SignedEnvelope
from dari.training.dp import DpSettings, PrivacyRecord

#: The grant's analysis type for a training job.
TRAINING_ANALYSIS = "federated_training"
Strategy = Literal["fedavg", "fedprox", "fedxgb_bagging"]
#: What is trained: a logistic model, a small MLP (both NumPy, FedAvg/FedProx) or xgboost trees (FedXgbBagging).
ModelFamily = Literal["logistic", "mlp", "xgboost"]
#: How the hub combines one round's updates: Flower's weighted mean, its trimmed mean (FedTrimmedAvg) or Krum.
Aggregation = Literal["mean", "trimmed_mean", "krum"]
SiteStatus = Literal["ok", "refused", "failed"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainRequest(_Record):
    """Train a logistic model on this spec's inputs at every site, by this strategy, under these rules."""

    job_id: str = Field(default_factory=lambda: "train-" + uuid.uuid4().hex[:12], pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    job_type: Literal["federated_training"] = "federated_training"
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id the grant must cover")
    expected_grants: dict[str, str] = Field(default_factory=dict)
    spec_json: str = Field(description="the feature spec (features.json) whose inputs and outcome are trained on")
    strategy: Strategy = "fedavg"
    model: ModelFamily = "logistic"
    aggregation: Aggregation = "mean"
    trim_beta: float = Field(default=0.34, ge=0, lt=0.5, description="FedTrimmedAvg's cut fraction at each end")
    krum_malicious: int = Field(default=1, ge=0, le=10, description="Krum's assumed number of poisoned sites")
    hidden: int = Field(default=8, ge=1, le=64, description="the MLP's hidden units")
    seed: int = Field(default=0, ge=0, le=2**31, description="the hub's seed for the MLP's initial parameters")
    max_depth: int = Field(default=3, ge=1, le=8, description="xgboost's tree depth")
    eta: float = Field(default=0.1, gt=0, le=1, description="xgboost's learning rate")
    local_trees: int = Field(default=1, ge=1, le=10, description="trees each site grows per round")
    rounds: int = Field(default=30, ge=1, le=200)
    local_steps: int = Field(default=5, ge=1, le=50, description="gradient steps per site per round")
    learning_rate: float = Field(default=1.0, gt=0, le=4)
    l2: float = Field(default=1e-4, ge=0, le=10)
    proximal_mu: float = Field(default=0.1, ge=0, le=10, description="FedProx's μ (ignored by FedAvg)")
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    secure_aggregation: bool = Field(default=False, description="SecAgg+: the hub sees only the sum of updates")
    dp: DpSettings | None = Field(default=None, description="differential privacy (DP-SGD at each site)")
    tickets: dict[str, SignedEnvelope] = Field(default_factory=dict)
    audit_checkpoint: SignedEnvelope | None = None

    @model_validator(mode="after")
    def _family_fits_strategy(self) -> TrainRequest:
        if (self.model == "xgboost") != (self.strategy == "fedxgb_bagging"):
            raise ValueError(f"model {self.model} needs strategy fedxgb_bagging exactly when it is xgboost")
        if self.model == "xgboost" and self.aggregation != "mean":
            raise ValueError("trees are appended, not averaged: aggregation must be mean for xgboost")
        return self

    def spec(self) -> FeatureSpec:
        """The parsed feature spec."""
        return parse_spec(self.spec_json)


class TrainStats(_Record):
    """A site's answer to the admission round: its cohort's protected size and its inputs' moments."""

    site_id: str
    dataset_id: str | None = None
    status: SiteStatus
    reason: str = ""
    grant_id: str | None = None
    n: ProtectedCount | None = None
    events: ProtectedCount | None = None
    mean: tuple[float, ...] = ()
    variance: tuple[float, ...] = ()
    data_from: str = Field(default="", pattern=r"^(\d{4}-\d{2})?$", description="cohort's index dates from (month)")
    data_to: str = Field(default="", pattern=r"^(\d{4}-\d{2})?$", description="… to (month)")


class TrainUpdate(_Record):
    """One round's update as the hub re-checks it: the site's parameters and their protected weight."""

    num_examples: int = Field(description="the cohort's protected (rounded) size: FedAvg's weight")
    weights: tuple[float, ...] = ()
    trees: str = Field(default="", description="xgboost only: this round's new trees (xgboost JSON)")


class TrainRun(_Record):
    """What a training job gives: the model's parameters on the pooled scale and who trained it."""

    job_id: str
    strategy: Strategy
    model: ModelFamily = "logistic"
    aggregation: Aggregation = "mean"
    hidden: int = 0
    rounds: int
    sites: dict[str, TrainStats]
    trained_by: tuple[str, ...] = Field(description="sites whose updates the final model averages")
    rounds_by_site: dict[str, int] = Field(default_factory=dict, description="rounds each site's update was pooled")
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...] = Field(description="[intercept, β…] (or the MLP's θ) on standardised inputs")
    trees: str = Field(default="", description="xgboost only: the trained booster (xgboost JSON) on raw inputs")
    feature_names: tuple[str, ...]
    secure_aggregation: bool = False
    privacy: PrivacyRecord | None = Field(default=None, description="(ε, δ) of the training, from the accountant")
    rounds_completed: int = Field(default=0, description="rounds whose aggregate the model includes")
    resumed_from: int = Field(default=0, description="the checkpoint's round this run started from (0: none)")
    dropped_out: dict[str, int] = Field(
        default_factory=dict, description="site → the first round it sent no usable update, having trained before"
    )
    started: str = ""
    finished: str = ""
