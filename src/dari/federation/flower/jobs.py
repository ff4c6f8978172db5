"""Typed records of a federated model-validation job: what the hub sends, what a site returns, what the run gives.

Every record that crosses the wire is a frozen pydantic model with no unknown fields, serialised to JSON inside
a Flower `ConfigRecord` (the ONNX bytes travel beside it as a `bytes` value). A `SiteReport` holds aggregates
only: protected site metrics and the sufficient statistics of `dari.validation`, never a row.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRules, ProtectedCount
from dari.federation.flower.secure_histogram import SecureAuroc
from dari.models.feature_spec import FeatureSpec, parse_spec
from dari.signing import SignedEnvelope
from dari.validation import (
    LogisticParams,
    LogisticStepStats,
    MetaAnalysis,
    OffsetMode,
    PooledMetrics,
    SiteSufficientStatistics,
    SubgroupMeta,
    SubgroupVariable,
    ValidationMetrics,
    ValidationSpec,
)

JobType = Literal["model_validation"]
SiteStatus = Literal["ok", "refused", "failed"]
SHA256 = r"^[0-9a-f]{64}$"
#: Grouping variables every cohort has; a job may add any yes/no input of the model's spec (e.g. `diabetes`).
BUILT_IN_SUBGROUPS = ("sex", "age_band")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class JobRequest(_Record):
    """What the hub asks every site: validate this model (by hash) on your dataset under these rules."""

    job_id: str = Field(default_factory=lambda: "job-" + uuid.uuid4().hex[:12], pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    job_type: JobType = "model_validation"
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id the grant must cover")
    expected_grants: dict[str, str] = Field(default_factory=dict, description="dataset id → grant id (optional)")
    model_sha256: str = Field(pattern=SHA256)
    model_path: str | None = Field(default=None, description="where a site reads the model, if not sent as bytes")
    spec_json: str = Field(description="the feature spec (features.json) as JSON text")
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    subgroups: tuple[str, ...] = Field(
        default=BUILT_IN_SUBGROUPS, max_length=8, description="grouping variables for subgroup metrics and gaps"
    )
    secure_histogram: bool = Field(
        default=False, description="SecAgg+: the pooled AUROC from fine histograms the hub sees only summed"
    )
    tickets: dict[str, SignedEnvelope] = Field(
        default_factory=dict, description="site id → the hub's signed ticket (`dari.federation.ticket`)"
    )
    audit_checkpoint: SignedEnvelope | None = Field(
        default=None, description="the hub's signed audit head (`dari.hub.audit_checkpoint`), kept by each site"
    )

    @model_validator(mode="after")
    def _spec_parses(self) -> JobRequest:
        spec = self.spec()
        allowed = set(BUILT_IN_SUBGROUPS) | {f.name for f in spec.features if f.is_indicator}
        unknown = [g for g in self.subgroups if g not in allowed]
        if unknown:
            raise ValueError(
                f"subgroups {unknown} are neither {' nor '.join(BUILT_IN_SUBGROUPS)} nor a yes/no input of the spec"
            )
        return self

    def spec(self) -> FeatureSpec:
        """The parsed feature spec."""
        return parse_spec(self.spec_json, source="job.spec_json")


class CalibrationStep(_Record):
    """The hub's current parameters for one of the job's logistic fits, with the pooled sums they follow from."""

    offset_mode: OffsetMode
    params: LogisticParams
    previous: LogisticStepStats | None = Field(
        default=None, description="the covered sites' pooled sums of this fit's previous round (None: its first)"
    )


class CalibrationQuery(_Record):
    """One Newton round: the current parameters of every fit still running (they share the round)."""

    job_id: str
    sites: tuple[str, ...] = Field(min_length=1, description="the covered sites whose sums `previous` pools")
    steps: tuple[CalibrationStep, ...] = Field(min_length=1, max_length=2)


class SiteReport(_Record):
    """What one site returns for a job: its status and, when ok, only disclosure-controlled aggregates."""

    site_id: str
    dataset_id: str | None = None
    status: SiteStatus
    reason: str = ""
    grant_id: str | None = None
    model_sha256: str | None = None
    cohort: ProtectedCount | None = Field(default=None, description="cohort size, suppressed/rounded")
    unscored: ProtectedCount | None = Field(default=None, description="cohort members the model could not score")
    metrics: ValidationMetrics | None = None
    statistics: SiteSufficientStatistics | None = None
    subgroups: tuple[SubgroupVariable, ...] = Field(default=(), description="protected metrics by subgroup, gaps")

    @model_validator(mode="after")
    def _ok_has_results(self) -> SiteReport:
        if self.status == "ok" and (self.metrics is None or self.statistics is None):
            raise ValueError("an ok report carries the site metrics and the sufficient statistics")
        if self.status != "ok" and (self.metrics is not None or self.statistics is not None or self.subgroups):
            raise ValueError("a refused or failed report carries no statistics")
        return self


class CalibrationReply(_Record):
    """A site's answer to one Newton round: the sums for each step asked, in order, or why it could not give them."""

    site_id: str
    status: SiteStatus
    reason: str = ""
    steps: tuple[LogisticStepStats, ...] = ()


class ValidationRun(_Record):
    """The job's outcome: every expected site's report, the pooled metrics over the sites it covers, and the
    random-effects meta-analysis of the site estimates."""

    job_id: str
    model_sha256: str
    requester: str
    sites: dict[str, SiteReport]
    covered: tuple[str, ...] = Field(description="sites whose statistics the pooled metrics include")
    refused: tuple[str, ...]
    failed: tuple[str, ...]
    pooled: PooledMetrics | None
    meta_analysis: dict[str, MetaAnalysis] = Field(default_factory=dict)
    subgroup_meta: tuple[SubgroupMeta, ...] = Field(
        (), description="each subgroup level pooled across the covered sites that released it (random effects)"
    )
    engine: Literal["simulation", "deployment"]
    wall_seconds: float = 0.0
    secure_auroc: SecureAuroc | None = Field(default=None, description="the SecAgg+ pooled AUROC and its bound")
