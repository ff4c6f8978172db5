"""`dari privacy link-tokens`: turn a site's identity CSV into linkage tokens for the combination agency."""

from __future__ import annotations

import base64
import csv
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from dari.atomic import atomic_path
from dari.cli.console import err, guarded
from dari.errors import InputError
from dari.privacy.keys import load_key
from dari.privacy.linkage.normalise import parse_date, parse_sex

REQUIRED = ("name", "rrn", "birth_date", "sex")
OPTIONAL = ("name_en", "sigungu")
OUTPUT_COLUMNS = ("row", "rrn_token", "nbs_token", "rrn_status", "clk", "block", "block_window")


def read_identity_csv(path: Path, encoding: str) -> pa.Table:
    """Read and check an identity CSV; InputError names the file, line and column of the first bad value."""
    columns: dict[str, list[str | None]] = {c: [] for c in REQUIRED + OPTIONAL}
    try:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip().lstrip("\ufeff") for h in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path), row=1, column=missing[0])
            reader.fieldnames = header
            for raw in reader:
                line = reader.line_num
                row = {k: (v.strip() if isinstance(v, str) else None) for k, v in raw.items() if k is not None}
                if not row.get("name"):
                    raise InputError("empty name", file=str(path), row=line, column="name")
                try:
                    if parse_date(row.get("birth_date")) is None:
                        raise ValueError("empty birth date")
                except ValueError as exc:
                    raise InputError(f"bad birth date ({exc})", file=str(path), row=line, column="birth_date") from exc
                if parse_sex(row.get("sex")) is None:
                    raise InputError("sex must be M/F or 남/여", file=str(path), row=line, column="sex")
                for c in columns:
                    columns[c].append(row.get(c) or None)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid {encoding} text (try --encoding cp949)", file=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    return pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()})


def write_token_csv(tokens: pa.Table, out: Path) -> None:
    """Write the token table as UTF-8 CSV, CLK in base64, atomically; identifiers are not in the table to write."""
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(OUTPUT_COLUMNS)
        cols = {c: tokens.column(c).to_pylist() for c in OUTPUT_COLUMNS}
        for i in range(tokens.num_rows):
            clk = base64.b64encode(cols["clk"][i]).decode("ascii")
            window = " ".join(cols["block_window"][i] or [])
            writer.writerow(
                [cols["row"][i] + 1, cols["rrn_token"][i] or "", cols["nbs_token"][i] or "", cols["rrn_status"][i],
                 clk, cols["block"][i], window]
            )  # fmt: skip


def link_tokens(
    input_csv: Annotated[Path, typer.Argument(help="Identity CSV: name, rrn, birth_date, sex[, name_en, sigungu].")],
    out: Annotated[Path, typer.Argument(help="Token CSV to write (row, tokens, CLK); holds no identifier.")],
    key_file: Annotated[Path, typer.Option("--key-file", help="Linkage key issued by the combination agency.")],
    encoding: Annotated[str, typer.Option(help="Text encoding of the input (utf-8 or cp949).")] = "utf-8",
) -> None:
    """Compute keyed linkage tokens and Bloom-filter CLKs per row for linkage by a combination agency."""
    # heavy domain modules load when the command runs, not when `dari` starts
    from dari.privacy.linkage.exact import rrn_status_counts
    from dari.privacy.linkage.match import linkage_tokens

    with guarded():
        key = load_key(key_file)
        table = read_identity_csv(input_csv, encoding)
        tokens = linkage_tokens(table, key)
        write_token_csv(tokens, out)
        counts = rrn_status_counts(tokens)
        err.print(
            f"{tokens.num_rows:,} rows tokenised to {out} (RRN valid {counts['valid']:,}, "
            f"missing {counts['missing']:,}, invalid {counts['invalid']:,}: those link on name+birth+sex and CLK only)"
        )
