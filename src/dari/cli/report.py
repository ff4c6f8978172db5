"""`dari report`: the multicenter validation report (HTML and PDF, Korean and/or English) from validation results."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from dari.cli.console import err, guarded
from dari.errors import InputError
from dari.models.model_card import ModelCard, load_card
from dari.models.reference import reference_model_paths

LangOption = Literal["ko", "en", "both"]


def _card(path: Path | None, model_sha256: str) -> ModelCard | None:
    """The card given, else the reference model's card when the results are of the reference model."""
    if path is not None:
        return load_card(path)
    ref = load_card(reference_model_paths().card)
    return ref if ref.model_sha256 == model_sha256 else None


def report(
    results: Annotated[Path, typer.Option("--results", help="results.json written by `dari validate --json`.")],
    model_card: Annotated[
        Path | None, typer.Option("--model-card", help="Model card JSON (default: reference).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report files.")] = Path("report"),
    lang: Annotated[str, typer.Option("--lang", help="ko, en or both.")] = "ko",
) -> None:
    """Write validation_report.<lang>.html (self-contained) and .pdf; print their paths."""
    from dari.reports import load_results, render_report, write_report  # matplotlib only when the command runs

    with guarded():
        if lang not in ("ko", "en", "both"):
            raise InputError(f"--lang must be ko, en or both, got {lang!r}")
        started = time.monotonic()
        inputs = load_results(results)
        card = _card(model_card, inputs.run.model_sha256)
        if card is None:
            err.print("[yellow]report[/] no model card for this model: the model-card section says so")
        langs: list[Literal["ko", "en"]] = ["ko", "en"] if lang == "both" else [lang]  # type: ignore[list-item]
        rendered = [render_report(inputs, card, x) for x in langs]
        paths = [p for r in rendered for p in write_report(r, out)]
        for r in rendered:
            if r.pdf_lang != r.lang:
                err.print("[yellow]report[/] no Hangul font found: the Korean PDF is in English (set DARI_REPORT_FONT)")
        err.print(f"[dim]report[/] rendered in {time.monotonic() - started:.1f} s")
        for p in paths:
            typer.echo(str(p))
