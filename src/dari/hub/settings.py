"""One configuration object for the hub: where its store is, how sessions behave, what counts may leave a site."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.hub.governance.throttle import ThrottlePolicy


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
    # The portal's site connector (dari.hub.site_connector): sites whose folders are on this machine (the demo's).
    site_folders: dict[str, Path] = Field(default_factory=dict, description="site id → site folder")
    connector_workers: int = Field(default=4, ge=1, le=32, description="sites answered at once")
