"""Settings of a CDS service: its own URL (the JWT audience), trusted issuers, thresholds, links and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Locale = Literal["ko", "en"]
MAX_BODY_BYTES = 1024 * 1024  # CDS Hooks requests carry a few prefetched resources; anything larger is refused


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssuerConfig(_Frozen):
    """An EHR allowed to call the service, with where its public keys are (exactly one of file or URL)."""

    iss: str = Field(min_length=1)
    jwks_file: Path | None = None
    jwks_url: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IssuerConfig:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError(f"issuer {self.iss!r} needs exactly one of jwks_file or jwks_url")
        if self.jwks_url is not None and not self.jwks_url.startswith("https://"):
            raise ValueError(f"jwks_url of {self.iss!r} must be https://, got {self.jwks_url!r}")
        return self


class RiskThresholds(_Frozen):
    """Card indicator by probability: below `warning` info, below `critical` warning, else critical."""

    warning: Annotated[float, Field(gt=0, lt=1)] = 0.20  # about the development site's 1-year event rate
    critical: Annotated[float, Field(gt=0, lt=1)] = 0.40  # twice it

    @model_validator(mode="after")
    def _ordered(self) -> RiskThresholds:
        if not self.warning < self.critical:
            raise ValueError(f"warning must be below critical, got {self.warning} and {self.critical}")
        return self


class CdsSettings(_Frozen):
    """Everything a deployment decides; unsafe choices (no issuer, plain-HTTP JWKS) are refused at start-up."""

    base_url: str  # the service's own public root URL; each service's JWT `aud` is base_url/cds-services/<id>
    database: Path
    issuers: tuple[IssuerConfig, ...] = Field(min_length=1)
    thresholds: RiskThresholds = RiskThresholds()
    model_card_url: str | None = None  # default: this service's own /models/<name>/model-card
    validation_report_url: str | None = None
    default_locale: Locale = "ko"
    timezone: str = "Asia/Seoul"
    max_body_bytes: int = Field(MAX_BODY_BYTES, gt=0)
    jwt_leeway_s: int = Field(30, ge=0, le=300)
    jwks_timeout_s: float = Field(3.0, gt=0, le=30)
    # Replay of historical (synthetic) data: lets a request name the evaluation date. Off in production.
    allow_as_of: bool = False
    # Validate each prefetched resource whole with fhir.resources R4B too, elements nothing reads included
    # (about 1.7 ms more per call); the default checks what is read, and that every element is one R4 defines.
    strict_fhir: bool = False

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {v!r}")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    def service_url(self, service_id: str) -> str:
        """A service's endpoint URL: what the EHR puts in the JWT's `aud`."""
        return f"{self.base_url}/cds-services/{service_id}"
