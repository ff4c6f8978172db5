"""`dari privacy deid-dicom`: de-identify a DICOM file or folder with the site key (PS3.15 Annex E)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import OutputFormat, err, guarded
from dari.cli.console import out as console
from dari.errors import InputError


def deid_dicom(
    input: Annotated[Path, typer.Argument(help="A DICOM file, or a folder of DICOM files.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (for a file) or folder (for a folder).")],
    key_file: Annotated[Path, typer.Option(help="Site key, mode 600: `dari privacy keygen` or 32+ raw random bytes.")],
    pseudonym_prefix: Annotated[str, typer.Option(help="Prefix of the patient pseudonyms.")] = "DARI",
    check_pixels: Annotated[bool, typer.Option(help="Look for text-like strokes at image borders.")] = True,
    modified_dates: Annotated[
        bool, typer.Option(help="Shift dates per patient (Modified Dates option); --no-modified-dates: remove them.")
    ] = True,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """De-identify DICOM (Basic Profile, modified dates, descriptors removed); flags burned-in text for review."""
    # heavy domain modules load when the command runs, not when `dari` starts
    from dari.privacy.dicom import deidentify_file, deidentify_tree, read_key_file

    with guarded():
        key = read_key_file(key_file)  # the site key's "dicom" sub-key, exactly as the Python API reads it
        if input.is_dir():
            summary = deidentify_tree(
                input,
                out,
                key=key,
                pseudonym_prefix=pseudonym_prefix,
                check_pixels=check_pixels,
                modified_dates=modified_dates,
            ).summary()
        elif input.is_file():
            report = deidentify_file(
                input,
                out,
                key=key,
                pseudonym_prefix=pseudonym_prefix,
                check_pixels=check_pixels,
                modified_dates=modified_dates,
            )
            name = out.name
            summary = {
                "files": 1,
                "skipped": 0,
                "needs_review": [name] if report.needs_review else [],
                "per_file": {
                    name: {
                        "patient": report.patient_pseudonym,
                        "actions": report.actions,
                        "burned_in": report.burned_in,
                        "notes": report.notes,  # e.g. the per-study fallback when the file has no PatientID
                    }
                },
            }
        else:
            raise InputError("input does not exist", file=str(input))
    if output == "json":
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        console.print(f"de-identified {summary['files']} file(s) into {out} (skipped {summary['skipped']})")
    review = summary["needs_review"]
    if isinstance(review, list) and review:
        # Reported on stderr as well, so a json consumer cannot miss that pixels need a person's review.
        err.print(f"[yellow]{len(review)} file(s) may carry burned-in text; review before release:[/]")
        for name in review:
            err.print(f"  {name}", soft_wrap=True, markup=False)
