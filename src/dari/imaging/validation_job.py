"""The typed request of a federated imaging validation, and what the hub adds to the tabular job's run.

`ImagingJobRequest` carries what `JobRequest` carries for a tabular model (requester, datasets, model hash,
`ValidationSpec`, `DisclosureRules`, tickets, audit checkpoint), with the images in scope instead of a feature
spec: modalities, body part and a study-date range, as the site's QIDO-RS query asks its own PACS. Sites answer with
the same `SiteReport` as the tabular job; the hub pools it with the same code (`hub_app.run_job`) into a
`ValidationRun`. `ImagingValidationRun` adds, from what the sites released only, sensitivity at fixed rates of
false positives per image (`dari.imaging.froc`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.federation.flower.jobs import SHA256, ValidationRun
from dari.signing import SignedEnvelope
from dari.validation import ValidationSpec

#: Grouping variables an imaging site can form from its headers.
ImagingSubgroup = Literal["manufacturer", "pixel_spacing"]
IMAGING_SUBGROUPS: tuple[ImagingSubgroup, ...] = ("manufacturer", "pixel_spacing")
IMAGING_ANALYSIS_TYPE = "model_validation"  # the same governance as a tabular validation: one grant type


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class ImagingScope(_Record):
    """Which studies of a site's PACS the job covers (the site's QIDO-RS query)."""

    modalities: tuple[str, ...] = Field(default=("DX", "CR"), min_length=1)
    body_part: str = Field(default="CHEST", pattern=r"^[A-Z0-9_ ]{1,16}$")
    study_date_from: str = Field(default="19000101", pattern=r"^\d{8}$")
    study_date_to: str = Field(default="29991231", pattern=r"^\d{8}$")


class ImagingJobRequest(_Record):
    """What the hub asks every site: validate this imaging model (by hash) on the studies in scope of its PACS."""

    job_id: str = Field(default_factory=lambda: "img-" + uuid.uuid4().hex[:12], pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    job_type: Literal["imaging_validation"] = "imaging_validation"
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id (its PACS) the grant covers")
    expected_grants: dict[str, str] = Field(default_factory=dict)
    model_sha256: str = Field(pattern=SHA256)
    model_name: str = Field(default="", max_length=128)
    scope: ImagingScope = Field(default_factory=ImagingScope)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    # The secure-histogram AUROC stage (SecAgg+) is not run for imaging jobs yet: always off.
    secure_histogram: Literal[False] = False
    subgroups: tuple[ImagingSubgroup, ...] = IMAGING_SUBGROUPS
    fp_per_image: tuple[Annotated[float, Field(gt=0, le=1)], ...] = Field(
        default=(0.05, 0.1, 0.2), min_length=1, max_length=8, description="operating points: false positives/image"
    )
    tickets: dict[str, SignedEnvelope] = Field(default_factory=dict)
    audit_checkpoint: SignedEnvelope | None = None


class SensitivityAtFp(_Record):
    """Sensitivity at a fixed rate of false positives per image, and the threshold that reaches it."""

    fp_per_image: float
    threshold: float
    sensitivity: float
    exact: bool = Field(description="False: read inside a released histogram bin (approximate)")


class ImagingValidationRun(_Record):
    """The tabular job's `ValidationRun` of the imaging model, with sensitivity at fixed FP/image per site and
    pooled."""

    run: ValidationRun
    scope: ImagingScope
    sensitivity_at_fp: dict[str, tuple[SensitivityAtFp, ...]] = Field(
        default_factory=dict, description="site id (and 'pooled') → the operating points"
    )
