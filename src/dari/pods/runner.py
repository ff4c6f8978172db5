"""Run a pod bundle at a site (or locally on dummy data) in the sandbox, and hold its outputs."""

from __future__ import annotations

from pathlib import Path

from dari.pods.grant import PodGrant
from dari.pods.models import PodLimits, PodRun


def run_bundle(
    site_folder: Path, bundle: Path, *, grant: PodGrant | None, limits: PodLimits | None = None, local: bool = False
) -> PodRun:
    """Run `bundle` on the site's pod view under `grant` (or on dummy data with `local`); outputs are held."""
    raise NotImplementedError("filled in next")
