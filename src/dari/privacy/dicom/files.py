"""De-identify DICOM files and folders: strict reading, atomic writing, the site key file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileDataset

from dari.atomic import atomic_dir, atomic_path
from dari.errors import InputError
from dari.privacy.dicom.deid import DeidReport, TextCleaner, deidentify_dataset

REPORT_NAME = "deid_report.json"
# A DICOMDIR indexes files by their original paths and carries patient names; it is not copied.
SKIPPED_NAMES = {"DICOMDIR"}
REQUIRED = ("SOPClassUID", "SOPInstanceUID")


def _native_pixel_bytes(ds: FileDataset) -> int | None:
    if ds.file_meta.TransferSyntaxUID.is_compressed or "PixelData" not in ds:
        return None
    try:
        samples = int(ds.get("SamplesPerPixel", 1))
        if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
            samples = 2  # chroma shared by two pixels: 4 values per 2 pixels (PS3.3 C.7.6.3.1.2)
        bits = int(ds.Rows) * int(ds.Columns) * samples
        bits *= int(ds.get("NumberOfFrames", 1) or 1) * int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    return (bits + 7) // 8


def read_dicom(path: Path) -> FileDataset:
    """Read a DICOM Part 10 file completely, or raise InputError naming it (not DICOM, truncated, incomplete)."""
    try:
        ds = pydicom.dcmread(path)
        for _ in ds.iterall():
            pass  # parse every element now, so a damaged value fails here rather than half-way through writing
        expected = _native_pixel_bytes(ds)
    except Exception as exc:  # whatever pydicom raises on damaged bytes, the file is what the user must fix
        raise InputError(f"not a readable DICOM file ({exc})", file=str(path)) from exc
    missing = [k for k in REQUIRED if not str(ds.get(k, "")).strip()]
    if "TransferSyntaxUID" not in ds.file_meta:
        missing.append("TransferSyntaxUID")
    if missing:
        # Without them the file is no composite instance (a fragment, a DICOMDIR) or was cut short.
        raise InputError(f"DICOM file lacks {', '.join(missing)} (truncated, or no instance?)", file=str(path))
    if expected is not None and len(ds.PixelData) < expected:
        raise InputError(f"pixel data has {len(ds.PixelData)} of {expected} bytes (truncated?)", file=str(path))
    return ds


def _write(report: DeidReport, dst: Path, src: Path) -> None:
    ds = report.dataset
    ds.preamble = b"\x00" * 128  # a preamble may hold another format's header with identifying text
    try:
        with atomic_path(dst) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    except (ValueError, TypeError, AttributeError) as exc:  # a value pydicom cannot encode came from the input
        raise InputError(f"cannot write the de-identified file ({exc})", file=str(src)) from exc


def deidentify_file(
    src: Path,
    dst: Path,
    *,
    key: bytes,
    text_cleaner: TextCleaner | None = None,
    pseudonym_prefix: str = "DARI",
    check_pixels: bool = True,
    modified_dates: bool = True,
) -> DeidReport:
    """De-identify one DICOM file into `dst` (written atomically; `src` is only read)."""
    if src.resolve() == dst.resolve():
        raise InputError("the output would overwrite the input", file=str(src))
    ds = read_dicom(src)
    report = deidentify_dataset(
        ds,
        key=key,
        text_cleaner=text_cleaner,
        pseudonym_prefix=pseudonym_prefix,
        check_pixels=check_pixels,
        modified_dates=modified_dates,
    )
    _write(report, dst, src)
    return report


@dataclass
class TreeReport:
    """What de-identifying a folder did: one entry per output file (by output path, never the source name)."""

    files: dict[str, DeidReport] = field(default_factory=dict)
    skipped: int = 0

    @property
    def needs_review(self) -> list[str]:
        """Output paths whose pixels may carry burned-in text."""
        return [name for name, r in self.files.items() if r.needs_review]

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary without the datasets, the source paths or anything from the key."""
        return {
            "files": len(self.files),
            "skipped": self.skipped,
            "needs_review": self.needs_review,
            "per_file": {
                name: {
                    "patient": r.patient_pseudonym,
                    "actions": r.actions,
                    "burned_in": r.burned_in,
                    "notes": r.notes,
                }
                for name, r in self.files.items()
            },
        }


def _inputs(src_dir: Path) -> tuple[list[Path], int]:
    files, skipped = [], 0
    for path in sorted(src_dir.rglob("*")):
        rel = path.relative_to(src_dir)
        if any(part.startswith(".") for part in rel.parts) or path.name.upper() in SKIPPED_NAMES:
            skipped += path.is_file()
            continue
        if path.is_file():
            files.append(path)
    return files, skipped


def deidentify_tree(
    src_dir: Path,
    dst_dir: Path,
    *,
    key: bytes,
    text_cleaner: TextCleaner | None = None,
    pseudonym_prefix: str = "DARI",
    check_pixels: bool = True,
    modified_dates: bool = True,
) -> TreeReport:
    """De-identify every DICOM file under `src_dir` into `dst_dir`: all files or, on any error, no output."""
    src, dst = src_dir.resolve(), dst_dir.resolve()
    if not src.is_dir():
        raise InputError("input is not a folder", file=str(src_dir))
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise InputError("input and output folders must not contain each other", file=str(dst_dir))
    if dst.exists() and any(dst.iterdir()) and not (dst / REPORT_NAME).is_file():
        raise InputError("output folder exists and is not a previous de-identified output", file=str(dst_dir))
    files, skipped = _inputs(src)
    report = TreeReport(skipped=skipped)
    sources: dict[str, Path] = {}
    with atomic_dir(dst) as tmp:
        for path in files:
            result = deidentify_dataset(
                read_dicom(path),
                key=key,
                text_cleaner=text_cleaner,
                pseudonym_prefix=pseudonym_prefix,
                check_pixels=check_pixels,
                modified_dates=modified_dates,
            )
            # Named by the new UIDs: source folder and file names often hold patient names or IDs.
            parts = (
                result.study_instance_uid or "study",
                result.series_instance_uid or "series",
                result.sop_instance_uid,
            )
            name = "/".join(parts) + ".dcm"
            if name in sources:
                raise InputError(f"same SOPInstanceUID as {sources[name]}", file=str(path))
            sources[name] = path
            _write(result, tmp / name, path)
            result.dataset = Dataset()  # free the pixels: the file on disk is the result
            report.files[name] = result
        (tmp / REPORT_NAME).write_text(json.dumps(report.summary(), indent=2, ensure_ascii=False), encoding="utf-8")
    return report
