"""What a site sends the hub about a deployed model in real use: monitoring windows and its inference audit.

One schema for both ends: `dari.monitoring` builds a `MonitoringPublication` at the site from the CDS service's
inference log (and outcomes from the site CDM), the hub stores it and the portal plots it. Nothing here identifies a
patient: no patient, encounter or user id, no keyed hash of inputs; counts of patients pass the site's disclosure
control before they are put here (a suppressed count reads as None with `suppressed=True`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dari.monitoring.drift import DriftResult, DriftThresholds

SCHEMA_VERSION: Literal[1] = 1
AlertKind = Literal["input_drift", "score_drift", "discrimination", "calibration"]
AlertSeverity = Literal["warning", "critical"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MonitoringPolicy(_Frozen):
    """When a model's use in care raises an alert; set per model at deployment."""

    drift: DriftThresholds = DriftThresholds()
    auroc_drop: float = Field(default=0.05, gt=0, lt=0.5, description="alert when live AUROC < validated − this")
    oe_low: float = Field(default=0.8, gt=0, lt=1, description="alert when observed/expected events fall below")
    oe_high: float = Field(default=1.25, gt=1, description="alert when observed/expected events rise above")
    min_outcomes: int = Field(default=100, ge=20, description="no performance verdict on fewer scored outcomes")
    window_days: int = Field(default=7, ge=1, le=366, description="monitoring window length")


class LivePerformance(_Frozen):
    """Discrimination and calibration on the window's calls whose outcome is known."""

    n: int | None  # None when suppressed by disclosure control
    events: int | None
    suppressed: bool = False
    auroc: float | None = None
    auroc_ci: tuple[float, float] | None = None
    validated_auroc: float | None = None
    observed_rate: float | None = None
    expected_rate: float | None = None  # mean predicted probability
    oe_ratio: float | None = None
    calibration_intercept: float | None = None  # calibration-in-the-large
    calibration_slope: float | None = None
    brier: float | None = None


class Alert(_Frozen):
    """A threshold crossed in one window."""

    kind: AlertKind
    severity: AlertSeverity
    subject: str  # the input's name, "score", "auroc" or "oe_ratio"
    value: float
    threshold: float
    message_en: str
    message_ko: str


class ServiceActivity(_Frozen):
    """What the CDS service did in the window (operational counts, not patient counts)."""

    calls: int
    scored: int
    refused_by_status: dict[str, int] = {}  # HTTP status → calls (412 missing data, 422 unusable value, …)
    cards_by_indicator: dict[str, int] = {}  # info / warning / critical
    feedback_accepted: int = 0
    feedback_overridden: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


class MonitoringWindow(_Frozen):
    """One window of use: activity, drift of each input and the score, live performance, alerts."""

    start: datetime
    end: datetime
    activity: ServiceActivity
    drift: list[DriftResult]
    performance: LivePerformance | None = None
    alerts: list[Alert] = []


class InferenceEntry(_Frozen):
    """One line of the inference audit as the hub keeps it (the site keeps the keyed input hash to itself)."""

    at: datetime
    service_id: str
    hook_instance: str
    model_sha256: str
    model_version: str
    status: int
    reason: str
    probability: float | None
    indicator: str | None
    card_uuid: str | None
    latency_ms: float
    feedback: Literal["accepted", "overridden"] | None = None


class MonitoringPublication(_Frozen):
    """A site's monitoring of one deployed model, as published to the hub (`dari monitor publish`)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    site_id: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_name: str
    model_version: str
    report_id: str | None  # the validation report the deployment was approved under
    generated_at: datetime
    policy: MonitoringPolicy
    windows: list[MonitoringWindow]
    inferences: list[InferenceEntry] = []
