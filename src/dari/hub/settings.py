"""One configuration object for the hub: where its store is, how sessions behave, what counts may leave a site."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRules
from dari.hub.governance.throttle import ThrottlePolicy


class SmtpSettings(BaseModel):
    """Where notifications are mailed; the password comes from an environment variable or a file, never a flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", description="From: address")
    starttls: bool = True
    username: str | None = Field(default=None, max_length=254)
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_file: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    portal_url: str | None = Field(default=None, pattern=r"^https?://", description="prefix of links in e-mails")

    @model_validator(mode="after")
    def _one_password_source(self) -> SmtpSettings:
        if self.password_env and self.password_file:
            raise ValueError("give the SMTP password by password_env or password_file, not both")
        return self


class HubSettings(BaseModel):
    """Settings of a hub; `secure_cookies` may only be off for loopback development and tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    database: str = Field(default="hub.db", description="SQLite file or postgresql:// URL")
    session_minutes: int = Field(default=60, ge=1, le=24 * 60)
    secure_cookies: bool = True
    max_form_bytes: int = Field(default=64_000, ge=1_000)
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    search_cache: Path | None = None
    login_throttle: ThrottlePolicy = Field(default_factory=ThrottlePolicy)
    smtp: SmtpSettings | None = Field(default=None, description="SMTP server for e-mail notifications")
    # The portal's site connector (dari.hub.site_connector): sites whose folders are on this machine (the demo's).
    site_folders: dict[str, Path] = Field(default_factory=dict, description="site id → site folder")
    connector_workers: int = Field(default=4, ge=1, le=32, description="sites answered at once")
