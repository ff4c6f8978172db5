"""A pod bundle: a directory or .zip with `pod.toml` and the researcher's code, validated and hashed canonically.

`pod.toml`::

    [pod]
    name = "egfr-slope"              # letters, digits, - _ .
    entry = "main.py"                # main.py | analysis.R | notebook.ipynb
    description = "eGFR slope by sex"

    [needs]
    tables = ["person", "measurement"]          # the CDM tables the code reads (must be within the grant)
    packages = ["duckdb", "numpy"]              # must be in the site's fixed pod environment
    python = "3.11"                             # optional: the Python the code was written for

The hash (`bundle_sha256`) is SHA-256 over the files in sorted order of their POSIX relative paths, each fed as
``path`` NUL ``size`` NUL ``content``; a directory and a .zip of the same files hash alike, so the hash the hub
records at submission is the one the site checks before it runs anything.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import InputError
from dari.hub.governance.requested_data import OmopTable

MANIFEST = "pod.toml"
Entry = Literal["main.py", "analysis.R", "notebook.ipynb"]
#: Bounds on what a bundle may hold: code, not data (data comes only through the pod's view).
MAX_FILES = 500
MAX_BYTES = 20 * 1024 * 1024
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class PodSection(BaseModel):
    """`[pod]`: what the bundle is and where it starts."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    name: str = Field(pattern=_NAME)
    entry: Entry
    description: str = Field(default="", max_length=2000)


class NeedsSection(BaseModel):
    """`[needs]`: the tables the code reads and the software it expects."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    tables: list[OmopTable] = Field(min_length=1, max_length=20)
    packages: list[str] = Field(default_factory=list, max_length=100)
    python: str | None = Field(default=None, pattern=r"^3\.\d{1,2}$")


class PodManifest(BaseModel):
    """The whole `pod.toml`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pod: PodSection
    needs: NeedsSection


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: where it came from, its manifest, its files (relative POSIX paths) and hash."""

    source: Path
    manifest: PodManifest
    files: tuple[str, ...]
    sha256: str

    @property
    def language(self) -> Literal["python", "r", "notebook"]:
        """What runs the entry point."""
        return {"main.py": "python", "analysis.R": "r", "notebook.ipynb": "notebook"}[self.manifest.pod.entry]  # type: ignore[return-value]


def _check_relative(name: str, source: Path) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith("\\") or "\\" in name:
        raise InputError(f"bundle entry {name[:120]!r} leaves the bundle (absolute path or '..')", file=str(source))
    return str(path)


def _read_files(source: Path) -> dict[str, bytes]:
    """Every regular file of a directory or .zip, by relative POSIX path; symlinks and devices refused."""
    files: dict[str, bytes] = {}
    total = 0
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise InputError(f"bundle holds a symbolic link {rel!r}: only plain files", file=str(source))
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise InputError(f"bundle holds {rel!r}, which is not a plain file", file=str(source))
            total += path.stat().st_size
            if total > MAX_BYTES or len(files) >= MAX_FILES:
                raise InputError(f"bundle is larger than {MAX_FILES} files or {MAX_BYTES} bytes", file=str(source))
            files[rel] = path.read_bytes()
        return files
    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                rel = _check_relative(info.filename, source)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise InputError(f"bundle holds a symbolic link {rel!r}: only plain files", file=str(source))
                total += info.file_size
                if total > MAX_BYTES or len(files) >= MAX_FILES:
                    raise InputError(f"bundle is larger than {MAX_FILES} files or {MAX_BYTES} bytes", file=str(source))
                if rel in files:
                    raise InputError(f"bundle lists {rel!r} twice", file=str(source))
                with archive.open(info) as fh:
                    data = fh.read(MAX_BYTES + 1)  # the header's size is not trusted
                if len(data) != info.file_size:
                    raise InputError(f"bundle entry {rel!r} does not match its declared size", file=str(source))
                files[rel] = data
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a bundle directory or a readable .zip: {exc}", file=str(source)) from None
    return files


def canonical_sha256(files: dict[str, bytes]) -> str:
    """SHA-256 over sorted relative paths: `path` NUL `size` NUL `content` for each file."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        content = files[rel]
        digest.update(rel.encode("utf-8") + b"\0" + str(len(content)).encode("ascii") + b"\0")
        digest.update(content)
    return digest.hexdigest()


def bundle_sha256(source: Path) -> str:
    """The canonical hash of a bundle directory or .zip (what the hub records at submission)."""
    return canonical_sha256(_read_files(source))


def parse_manifest(text: str, source: Path) -> PodManifest:
    """`pod.toml` as a manifest; InputError naming the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{MANIFEST} is not valid TOML: {exc}", file=str(source)) from None
    try:
        return PodManifest.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InputError(f"{MANIFEST}: {where}: {problem['msg']}", file=str(source)) from None


def load_bundle(source: Path) -> Bundle:
    """Read, validate and hash a bundle; InputError naming the file and the problem. The bundle is never modified."""
    if not source.exists():
        raise InputError("no such bundle", file=str(source))
    files = _read_files(source)
    if MANIFEST not in files:
        raise InputError(f"bundle has no {MANIFEST} at its top level", file=str(source))
    try:
        manifest = parse_manifest(files[MANIFEST].decode("utf-8"), source)
    except UnicodeDecodeError:
        raise InputError(f"{MANIFEST} is not UTF-8", file=str(source)) from None
    if manifest.pod.entry not in files:
        raise InputError(f"the entry point {manifest.pod.entry} named in {MANIFEST} is missing", file=str(source))
    return Bundle(source=source, manifest=manifest, files=tuple(sorted(files)), sha256=canonical_sha256(files))


def materialise(bundle: Bundle, dest: Path) -> str:
    """Write the bundle's files under `dest` (read-only); returns their hash, re-checked against the bundle's."""
    files = _read_files(bundle.source)
    sha = canonical_sha256(files)
    if sha != bundle.sha256:  # the bundle changed between validation and the run: run nothing
        raise InputError("bundle changed after it was checked (hash differs)", file=str(bundle.source))
    dest.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o444)
    for folder in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        folder.chmod(0o555)
    return sha


def remove_tree(path: Path) -> None:
    """Remove a folder that `materialise` (or a run) made read-only."""
    if not path.exists():
        return
    for p in [path, *path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path)
