"""The pod's software environment, declared and fixed: one Python and one exact package set, hashed.

A pod runs on this site's virtual environment (the one dari itself runs in, bound read-only into the sandbox),
so every run at a site sees the same interpreter and the same packages at the same versions — those of the
project's lock file (`uv.lock`). `environment_sha256` hashes the Python version and the sorted `name==version`
list (not paths, which differ between machines): two sites with the same hash give a pod the same software.

R: a bundle whose entry is `analysis.R` runs with Debian's R (`r-base-core`, `Rscript --vanilla`, base packages
only; its version is part of the environment's hash); it reads the view as CSV (`<table>.csv`), since Debian's R
has no Parquet reader. Where R is not installed such a bundle is refused before anything runs, with that reason.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dari.errors import InputError
from dari.pods.bundle import Bundle
from dari.pods.sandbox import POD_CODE, POD_OUTPUTS

NOTEBOOK_OUTPUT = "notebook.ipynb"
# Runs a notebook headless inside the sandbox (nbclient with the environment's own ipykernel); the executed
# notebook is an output like any other, held for checking.
_NOTEBOOK_RUNNER = (
    "import sys, nbformat\n"
    "from nbclient import NotebookClient\n"
    "nb = nbformat.read(sys.argv[1], as_version=4)\n"
    "try:\n"
    "    NotebookClient(nb, kernel_name='python3', timeout=None,\n"
    "                   resources={'metadata': {'path': '/pod/work'}}).execute()\n"
    "finally:\n"
    "    nbformat.write(nb, sys.argv[2])\n"
)


class PodEnvironmentError(InputError):
    """A bundle that needs what the site's pod environment does not have (R, a package, another Python)."""


class PodEnvironment(BaseModel):
    """The interpreter and the exact package set a pod gets at this site."""

    model_config = ConfigDict(frozen=True)
    python: str
    implementation: str
    packages: dict[str, str]
    r: str | None = None
    sha256: str


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _r_version() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    out = subprocess.run([rscript, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "R"


@cache
def current_environment() -> PodEnvironment:
    """This site's pod environment (the running interpreter's virtual environment), hashed once per process."""
    site_packages = [p for p in sys.path if p.startswith(sys.prefix) and p.endswith("site-packages")]
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=site_packages or sys.path):
        name = dist.metadata["Name"]
        if name:
            packages[normalise(name)] = dist.version
    packages.pop("dari", None)  # dari's own source is not in the sandbox; the pod does not import it
    python = ".".join(str(v) for v in sys.version_info[:3])
    r = _r_version()
    body = {"python": python, "implementation": sys.implementation.name, "packages": sorted(packages.items()), "r": r}
    sha = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return PodEnvironment(
        python=python, implementation=sys.implementation.name, packages=dict(sorted(packages.items())), r=r, sha256=sha
    )


def check_needs(bundle: Bundle, env: PodEnvironment) -> None:
    """Refuse (`PodEnvironmentError`) a bundle the environment cannot run, naming what is missing."""
    needs = bundle.manifest.needs
    where = str(bundle.source)
    if bundle.language == "r" and env.r is None:
        raise PodEnvironmentError(
            "R bundles need R (Debian's r-base, Rscript), which this site's pod environment does not include",
            file=where,
        )
    if needs.python is not None and not env.python.startswith(needs.python + "."):
        raise PodEnvironmentError(f"the bundle needs Python {needs.python}; the pods here run {env.python}", file=where)
    missing = [p for p in needs.packages if normalise(p) not in env.packages]
    if bundle.language == "notebook":
        missing += [p for p in ("nbclient", "nbformat", "ipykernel") if p not in env.packages]
    if missing:
        raise PodEnvironmentError(
            f"packages not in this site's pod environment: {', '.join(sorted(set(missing)))}", file=where
        )


def entry_command(bundle: Bundle) -> list[str]:
    """The command that runs the bundle's entry point inside the sandbox."""
    python = str(Path(sys.prefix) / "bin" / "python")
    entry = f"{POD_CODE}/{bundle.manifest.pod.entry}"
    if bundle.language == "python":
        return [python, entry]
    if bundle.language == "notebook":
        return [python, "-c", _NOTEBOOK_RUNNER, entry, f"{POD_OUTPUTS}/{NOTEBOOK_OUTPUT}"]
    return ["Rscript", "--vanilla", entry]
