"""Which jobs a site has admitted: one marker file per (dataset, job), claimed atomically, looked up in O(1).

A job runs once per site (a replayed job would restart its round count and release again). The site's audit file
says which jobs it admitted, but scanning it per job grows with the site's history (about 10 ms at 3,000 jobs on
the 2-core reference machine, 0.1 s at 30,000) and leaves a race: two ClientApp processes given the same job at
once could both scan, find nothing, and both run it. A marker `SITE/audit/admitted/<sha256(dataset NUL job)>`
created with `O_CREAT | O_EXCL` answers both: the file system lets exactly one creator win, and `exists` is one
lookup however long the history.

A site whose audit predates the markers gets them once, built from its audit file's `job.admit` entries into a
temporary folder renamed into place, under a lock (a concurrent first use waits and uses the result). Markers carry
no identifiers: their name is a hash, their content the job and dataset ids the audit already holds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dari.federation.site_audit import SiteAuditLog

MARKERS = Path("audit") / "admitted"


def _name(dataset_id: str, job_id: str) -> str:
    return hashlib.sha256(f"{dataset_id}\0{job_id}".encode()).hexdigest()


@dataclass(frozen=True)
class AdmittedJobs:
    """The admission markers of one site folder."""

    folder: Path

    @property
    def path(self) -> Path:
        """The markers' folder (created from the site's audit on first use)."""
        return self.folder / MARKERS

    def seen(self, job_id: str, dataset_id: str) -> bool:
        """Whether this site admitted the job on this dataset before."""
        return (self._ready() / _name(dataset_id, job_id)).exists()

    def claim(self, job_id: str, dataset_id: str) -> bool:
        """Mark the job admitted; False when it already was (by an earlier job or a concurrent process)."""
        marker = self._ready() / _name(dataset_id, job_id)
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps({"job": job_id, "dataset": dataset_id}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _ready(self) -> Path:
        path = self.path
        if not path.is_dir():
            self._build_from_audit()
        return path

    def _build_from_audit(self) -> None:
        """Markers for every `job.admit` in the site's audit, put in place by one rename, under a lock."""
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with (path.parent / ".admitted.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent first use waits, then finds the folder
            if path.is_dir():
                return
            staging = Path(tempfile.mkdtemp(prefix=".admitted-", dir=path.parent))
            try:
                for entry in SiteAuditLog(self.folder).entries():
                    details = entry.get("details") or {}
                    if entry.get("event") == "job.admit" and "job" in details and "dataset" in details:
                        job, dataset = str(details["job"]), str(details["dataset"])
                        (staging / _name(dataset, job)).write_text(json.dumps({"job": job, "dataset": dataset}))
                staging.rename(path)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
