"""`dari privacy deid-text`: de-identify clinical notes in a JSONL file ({"id", "text"} per line)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer

from dari.atomic import atomic_path
from dari.cli.console import err, guarded, progress_bar
from dari.errors import InputError

# high-recall: surrogates, with the high-recall detector (release to research pods)
DeidMode = Literal["surrogate", "mask", "high-recall"]
Detection = Literal["standard", "high-recall"]
_AUTO = "auto"


def _decode_lines(path: Path, encoding: str) -> list[str]:
    """Lines of the input, decoded; 'auto' tries UTF-8 then CP949 (what Korean hospital exports use)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", file=str(path)) from exc
    candidates = ["utf-8-sig", "cp949"] if encoding == _AUTO else [encoding]
    for codec in candidates:
        try:
            # JSONL lines end at \n only: str.splitlines() would also cut at \x0c, \x1c or U+2028 inside a note.
            return [line.removesuffix("\r") for line in raw.decode(codec).split("\n")]
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}", file=str(path)) from exc
        except UnicodeDecodeError:
            continue
    # Name the first line that does not decode; never echo its bytes (they may hold identifiers).
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode(candidates[-1])
        except UnicodeDecodeError:
            tried = " or ".join(candidates)
            message = f"line {number} is not valid {tried}; pass --encoding"
            raise InputError(message, file=str(path), row=number) from None
    raise InputError(f"cannot decode as {' or '.join(candidates)}", file=str(path))


def _record(line: str, number: int, path: Path) -> tuple[object, str]:
    """The (id, text) of one JSONL line; errors name the line and never quote the text."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg}, column {exc.colno})", file=str(path), row=number) from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object with 'id' and 'text'", file=str(path), row=number)
    missing = [key for key in ("id", "text") if key not in obj]
    if missing:
        raise InputError(f"missing {' and '.join(repr(k) for k in missing)}", file=str(path), row=number)
    if not isinstance(obj["text"], str):
        raise InputError(f"'text' must be a string, got {type(obj['text']).__name__}", file=str(path), row=number)
    return obj["id"], obj["text"]


def deid_jsonl(
    input_path: Path,
    out_path: Path,
    *,
    mode: DeidMode = "surrogate",
    secret: str | None = None,
    encoding: str = _AUTO,
    detection: Detection = "standard",
    advance: Callable[[int], None] | None = None,
) -> int:
    """De-identify every line of input_path into out_path (atomically); returns the number of records."""
    # heavy domain modules load when the command runs, not when `dari` starts
    from dari.privacy.text import SurrogateMap, deidentify

    if input_path.resolve() == out_path.resolve():
        raise InputError("--out must differ from the input (the input is never modified)", file=str(input_path))
    lines = _decode_lines(input_path, encoding)
    records = [(n, _record(line, n, input_path)) for n, line in enumerate(lines, start=1) if line.strip()]
    # Without a secret each run draws its own, so surrogates cannot be recomputed by someone else.
    surrogates = SurrogateMap(secret or secrets.token_bytes(32)) if mode != "mask" else None
    if mode == "high-recall":
        detection = "high-recall"
    with atomic_path(out_path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for _, (doc_id, text) in records:
            result = deidentify(text, surrogate=surrogates, mode=detection)
            row = {"id": doc_id, "text": result.text, "spans": [[s.start, s.end, s.label] for s in result.spans]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if advance is not None:
                advance(1)
    return len(records)


def deid_text(
    input: Annotated[Path, typer.Argument(help='JSONL file, one {"id": ..., "text": ...} object per line.')],
    out: Annotated[Path, typer.Option("--out", help="JSONL to write: id, de-identified text, spans.")],
    mode: Annotated[
        DeidMode,
        typer.Option(
            help="surrogate (realistic stand-ins), mask ([PERSON]) or high-recall (surrogates, recall-first)."
        ),
    ] = "surrogate",
    secret: Annotated[
        str | None,
        typer.Option(help="Key for consistent surrogates across runs (default: $DARI_DEID_SECRET, else random)."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Input encoding: auto (UTF-8, else CP949), utf-8, cp949 ...")] = _AUTO,
    detection: Annotated[
        Detection,
        typer.Option(help="standard, or high-recall (also names the tagger finds likely; for research releases)."),
    ] = "standard",
) -> None:
    """De-identify clinical notes: names, RRNs, phones, e-mail, addresses, record numbers, dates, ages > 89."""
    key = secret or os.environ.get("DARI_DEID_SECRET")
    with guarded(), progress_bar() as bar:
        task = bar.add_task("deid-text", total=None)
        n = deid_jsonl(
            input, out, mode=mode, secret=key, encoding=encoding, detection=detection,
            advance=lambda k: bar.advance(task, k),
        )  # fmt: skip
    err.print(f"de-identified {n} record(s) -> {out}")
