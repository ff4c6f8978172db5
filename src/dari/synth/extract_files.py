"""The source EMR extract as files: CSV in the hospital's own encoding, written chunk by chunk."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from dari.etl.encoding import scan_file
from dari.etl.extract_spec import EXTRACT_FILES
from dari.etl.manifest import MANIFEST_FILE
from dari.synth.sites import SiteProfile


@dataclass
class ExtractWriter:
    """Appends chunks of extract tables to CSV files in the site's encoding (BOM only at the start)."""

    folder: Path
    profile: SiteProfile
    rows: dict[str, int] = field(default_factory=dict)
    _files: dict[str, io.BufferedWriter] = field(default_factory=dict)

    def __enter__(self) -> ExtractWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for f in self._files.values():
            f.close()

    def write(self, name: str, table: pa.Table) -> None:
        """Append `table` (columns exactly as the extract format defines them) to the file `name`.csv."""
        expected = EXTRACT_FILES[name].columns
        if tuple(table.column_names) != expected:
            raise ValueError(f"{name}: columns must be {expected}, got {tuple(table.column_names)}")
        first = name not in self._files
        if first:
            self._files[name] = (self.folder / f"{name}.csv").open("wb")
            if self.profile.encoding == "utf-8-sig":
                self._files[name].write("\ufeff".encode())
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=first, quoting_style="needed"))
        data = buf.getvalue()
        if self.profile.encoding == "cp949":
            # pyarrow writes UTF-8 only; the hospital's system exports CP949, so transcode per chunk.
            data = data.decode("utf-8").encode("cp949")
        self._files[name].write(data)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def write_manifest(self, extra: dict[str, Any]) -> None:
        """Describe the extract: encoding, date format, value codes, row counts and SHA-256 per file (UTF-8 JSON)."""
        for f in self._files.values():
            f.flush()  # the checksum is of the bytes on disk
        files = {
            name: {"file": f"{name}.csv", "rows": n, "sha256": scan_file(self.folder / f"{name}.csv")[0]}
            for name, n in sorted(self.rows.items())
        }
        manifest = {
            "site_id": self.profile.site_id,
            "hospital": {"ko": self.profile.name_ko, "en": self.profile.name_en},
            "encoding": self.profile.encoding,
            "date_format": self.profile.date_format,
            "files": files,
            **extra,
        }
        (self.folder / MANIFEST_FILE).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
