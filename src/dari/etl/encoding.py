"""Checking and converting the text encoding of extract files, streaming, with exact error positions."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from pathlib import Path

from dari.errors import InputError

_CHUNK = 8 << 20


def _locate(path: Path, offset: int, header: list[str], encoding: str) -> tuple[int, str | None]:
    """Line number (1-based, physical) and column name of the byte at `offset`."""
    with path.open("rb") as f:
        prefix = f.read(offset)
    line_no = prefix.count(b"\n") + 1
    line_start = prefix.rfind(b"\n") + 1
    text = prefix[line_start:].decode(encoding, errors="replace")
    fields = next(csv.reader(io.StringIO(text)), [""])
    col_idx = len(fields) - 1
    return line_no, header[col_idx] if 0 <= col_idx < len(header) else None


def scan_file(path: Path) -> tuple[str, int | None]:
    """One streaming pass over a file's bytes: its SHA-256 (hex) and the offset of its first NUL byte, if any.

    NUL (0x00) is never part of a UTF-8 or CP949/EUC-KR character other than NUL itself, so a byte search finds
    every NUL in those encodings; DuckDB would otherwise read it silently (as NULL or a cut-off value)."""
    digest = hashlib.sha256()
    first_nul: int | None = None
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if first_nul is None and (at := chunk.find(b"\x00")) >= 0:
                first_nul = offset + at
            offset += len(chunk)
    return digest.hexdigest(), first_nul


def refuse_nul(path: Path, offset: int, header: list[str], encoding: str) -> InputError:
    """The error for a NUL byte at `offset`: file, line and column, never the value around it."""
    plain = "utf-8" if encoding == "utf-8-sig" else encoding
    line, column = _locate(path, offset, header, plain)
    return InputError(
        "a NUL byte (0x00) inside a field; the export is damaged or binary data leaked into the text, "
        "so the file is refused rather than read with the value cut or emptied",
        file=str(path),
        row=line,
        column=column,
    )


def transcode_to_utf8(path: Path, encoding: str, out: Path | None, header: list[str]) -> None:
    """Decode `path` as `encoding` (raising InputError at the first bad byte); write UTF-8 to `out` if given.

    Streams in 8 MiB chunks with an incremental decoder, so multibyte characters split across chunks decode.
    """
    # The BOM is skipped by hand (not by 'utf-8-sig') so that byte offsets of errors stay file offsets.
    plain = "utf-8" if encoding == "utf-8-sig" else encoding
    decoder = codecs.getincrementaldecoder(plain)("strict")
    consumed = 0
    sink = out.open("w", encoding="utf-8", newline="") if out is not None else None
    try:
        with path.open("rb") as f:
            if f.read(3) == codecs.BOM_UTF8 and plain == "utf-8":
                consumed = 3
            else:
                f.seek(0)
            while True:
                pending = len(decoder.getstate()[0])  # bytes of a character split across chunks, held back
                chunk = f.read(_CHUNK)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    line, column = _locate(path, consumed - pending + exc.start, header, plain)
                    raise InputError(
                        f"bytes that are not valid {encoding} (is the file in another encoding?)",
                        file=str(path),
                        row=line,
                        column=column,
                    ) from exc
                if sink is not None:
                    sink.write(text)
                if not chunk:
                    break
                consumed += len(chunk)
    finally:
        if sink is not None:
            sink.close()


def read_header(path: Path, encoding: str) -> list[str]:
    """The header row of a CSV file, decoded; an empty file is an error naming it."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    if not first.strip():
        raise InputError("the file is empty (a header row is required)", file=str(path), row=1)
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"header is not valid {encoding}", file=str(path), row=1) from exc
    return next(csv.reader([text.lstrip("\ufeff").rstrip("\r\n")]))
