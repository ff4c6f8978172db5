"""The extract manifest: what a hospital declares about its files (encoding, date format, value codes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import InputError

MANIFEST_FILE = "manifest.json"


class FileEntry(BaseModel):
    """One file of the extract: its name, its data rows (header not counted) and the SHA-256 of its bytes.

    The ETL refuses a file whose row count or checksum differs (a truncated or altered export); a manifest
    written before checksums existed still loads, with a warning (`ExtractIntegrityWarning`)."""

    model_config = ConfigDict(extra="forbid")
    file: str
    rows: int | None = Field(None, ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class ExtractManifest(BaseModel):
    """What the ETL needs to read a site's extract; docs/extract-format.md documents each field."""

    model_config = ConfigDict(extra="allow")
    site_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    hospital: dict[str, str]
    encoding: Literal["utf-8", "utf-8-sig", "cp949", "euc-kr"]
    date_format: str = Field(pattern=r"^%Y-?%m-?%d$")
    sex_codes: dict[str, Literal["M", "F"]] = {"M": "M", "F": "F"}
    visit_types: dict[str, Literal["OP", "IP", "ER"]] = {"외래": "OP", "입원": "IP", "응급": "ER"}
    files: dict[str, FileEntry]

    @property
    def datetime_format(self) -> str:
        """Format of date-time columns: the date format followed by hours and minutes."""
        return f"{self.date_format} %H:%M"


def read_manifest(folder: Path) -> ExtractManifest:
    """Read and validate `manifest.json` in an extract folder."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InputError("the extract has no manifest.json (see docs/extract-format.md)", file=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ExtractManifest.model_validate(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=str(path), row=exc.lineno) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(first["msg"], file=str(path), column=field) from exc
    except UnicodeDecodeError as exc:
        raise InputError("manifest.json must be UTF-8", file=str(path)) from exc
