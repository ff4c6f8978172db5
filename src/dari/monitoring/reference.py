"""The monitoring reference of a deployed model at a site: what its inputs, score and performance looked like when it
was validated there.

Built at the site from the validation cohort on the site's own CDM (the spec's cohort, extracted and scored exactly
as `dari validate` does), so live use is compared with the population the site approved the model on. Per model
input, the values the model sees (the spec's unit; the declared value where a missing input is imputed, so a change
in how often a value is missing shows as drift too) and the score, each as a `ReferenceDistribution` (decile edges,
shares and a bounded random sample, no identifiers); with the validated AUROC (DeLong CI), calibration-in-the-large,
slope, observed/expected ratio and Brier score. Saved as `monitoring-reference.json` in the deployment folder.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.atomic import atomic_path
from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.models import FeatureSpec, OnnxModel, extract_cohort_features, load_spec
from dari.models.feature_spec import ImputePolicy
from dari.models.reference import MODEL_FILE, SPEC_FILE
from dari.monitoring.drift import ReferenceDistribution, reference_distribution
from dari.monitoring.publication import MonitoringPolicy
from dari.validation import UndefinedMetricWarning, evaluate

REFERENCE_FILE = "monitoring-reference.json"
DEPLOYMENT_FILE = "deployment.json"  # written by `dari deploy`
POLICY_FILE = "monitoring-policy.json"  # optional: the model's alert thresholds at this deployment
SCORE = "score"
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValidatedPerformance(_Frozen):
    """The model's performance on the site's validation cohort (None where undefined)."""

    n: int
    events: int
    auroc: float | None
    auroc_ci: tuple[float, float] | None
    observed_rate: float | None
    expected_rate: float | None
    oe_ratio: float | None
    calibration_intercept: float | None
    calibration_slope: float | None
    brier: float | None


class MonitoringReference(_Frozen):
    """Everything live use is compared with, for one model at one site."""

    reference_format: Literal[1] = 1
    model_sha256: Sha256
    model_name: str
    model_version: str
    site_id: str
    built_at: datetime
    inputs: dict[str, ReferenceDistribution]  # feature name → distribution of the value the model sees
    score: ReferenceDistribution
    performance: ValidatedPerformance


@dataclass(frozen=True)
class Deployment:
    """A deployment folder (`dari deploy --out`): the model, its spec, and where and under which report."""

    folder: Path
    spec: FeatureSpec
    model: OnnxModel
    site_id: str | None
    report_id: str | None

    @property
    def model_sha256(self) -> str:
        """SHA-256 of the deployed ONNX file."""
        return self.model.sha256

    def policy(self) -> MonitoringPolicy:
        """The folder's monitoring policy (`monitoring-policy.json`), or the defaults when there is none."""
        return load_policy(self.folder / POLICY_FILE) if (self.folder / POLICY_FILE).is_file() else MonitoringPolicy()


def load_deployment(folder: Path) -> Deployment:
    """Read a deployment folder: model.onnx and features.json, and deployment.json when `dari deploy` wrote one."""
    if not folder.is_dir():
        raise InputError("deployment folder not found", file=str(folder))
    manifest: dict[str, object] = {}
    manifest_path = folder / DEPLOYMENT_FILE
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the deployment manifest: {exc}", file=str(manifest_path)) from None
        if not isinstance(manifest, dict):
            raise InputError("the deployment manifest must be a JSON object", file=str(manifest_path))
    spec = load_spec(folder / SPEC_FILE)
    expected = manifest.get("model_sha256")
    model = OnnxModel.load(
        folder / MODEL_FILE, spec=spec, expected_sha256=expected if isinstance(expected, str) else None
    )
    site, report = manifest.get("site"), manifest.get("report_id")
    return Deployment(
        folder, spec, model, site if isinstance(site, str) else None, report if isinstance(report, str) else None
    )


def load_policy(path: Path) -> MonitoringPolicy:
    """A monitoring policy from JSON; errors name the file and the field."""
    try:
        return MonitoringPolicy.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the monitoring policy: {exc.strerror}", file=str(path)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], file=str(path), column=".".join(str(p) for p in first["loc"])) from None


def seen_values(spec: FeatureSpec, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each input as the model sees it, in the spec's unit: NaN (missing) replaced by the declared value if imputed."""
    out: dict[str, np.ndarray] = {}
    for f in spec.features:
        col = np.asarray(raw[f.name], dtype=np.float64)
        if isinstance(f.missing, ImputePolicy):
            col = np.where(np.isnan(col), f.missing.value, col)
        out[f.name] = col
    return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def validated_performance(y: np.ndarray, p: np.ndarray) -> ValidatedPerformance:
    """AUROC (DeLong CI), CITL, slope, O/E and Brier of labelled scores, through `dari.validation.evaluate`."""
    n, events = int(y.size), int(np.sum(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # one-class data: NaN, read as None below
        m = evaluate(y.astype(bool), p)
    expected = float(np.mean(p)) if n else math.nan
    observed = events / n if n else math.nan
    low, high = _finite(m.auroc.ci_low), _finite(m.auroc.ci_high)
    return ValidatedPerformance(
        n=n,
        events=events,
        auroc=_finite(m.auroc.estimate),
        auroc_ci=(low, high) if low is not None and high is not None else None,
        observed_rate=_finite(observed),
        expected_rate=_finite(expected),
        oe_ratio=_finite(observed / expected) if n and expected > 0 else None,
        calibration_intercept=_finite(m.calibration.citl.estimate),
        calibration_slope=_finite(m.calibration.slope.estimate),
        brier=_finite(m.calibration.brier.brier),
    )


def build_reference(
    deployment: Deployment, store: CdmStore, *, site_id: str | None = None, sample_size: int = 5000, seed: int = 0
) -> MonitoringReference:
    """The reference of `deployment` at the site whose CDM is `store` (its validation cohort, scored)."""
    site = site_id or deployment.site_id
    if site is None:
        raise InputError("the deployment folder names no site (no deployment.json): give the site id")
    spec = deployment.spec
    frame = extract_cohort_features(store, spec)
    batch = frame.inputs(spec)
    keep = batch.scorable
    if int(keep.sum()) < 10:
        raise InputError(f"the validation cohort has {int(keep.sum())} scorable members; at least 10 are needed")
    p = np.asarray(deployment.model.predict_proba(batch.x[keep]), dtype=np.float64)
    values = seen_values(spec, {k: v[keep] for k, v in frame.raw.items()})
    inputs = {
        name: reference_distribution(name, col, sample_size=sample_size, seed=seed) for name, col in values.items()
    }
    return MonitoringReference(
        model_sha256=deployment.model_sha256,
        model_name=spec.name,
        model_version=spec.version,
        site_id=site,
        built_at=datetime.now(UTC),
        inputs=inputs,
        score=reference_distribution(SCORE, p, sample_size=sample_size, seed=seed),
        performance=validated_performance(frame.y[keep], p),
    )


def save_reference(reference: MonitoringReference, path: Path) -> None:
    """Write the reference as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(reference.model_dump_json(indent=1) + "\n", encoding="utf-8")


def load_reference(path: Path) -> MonitoringReference:
    """Read a reference written by `save_reference`; errors name the file and the field."""
    try:
        return MonitoringReference.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InputError(
            f"cannot read the monitoring reference ({exc.strerror}); build it with `dari monitor reference`",
            file=str(path),
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], file=str(path), column=".".join(str(p) for p in first["loc"])) from None
