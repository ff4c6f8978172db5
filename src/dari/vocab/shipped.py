"""Load and validate the vocabulary CSV files shipped in `dari/vocab/data/` (or a copy of them).

Every defect is reported as `dari.errors.InputError` naming the file, the line (header = line 1) and the
column, so that the person editing the CSV can go straight to it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dari.errors import InputError
from dari.vocab.model import (
    IS_A,
    LOCAL_CONCEPT_ID_MIN,
    MAPS_TO,
    NO_MATCHING_CONCEPT_ID,
    Concept,
    Language,
    MetadataEntry,
    MetadataKind,
    Relationship,
    Synonym,
    normalise_code,
)
from dari.vocab.validate import check_acyclic, check_mapping
from dari.vocab.vocabulary import Vocabulary

CONCEPTS_FILE = "concepts.csv"
SYNONYMS_FILE = "synonyms.csv"
RELATIONSHIPS_FILE = "relationships.csv"
METADATA_FILE = "metadata.csv"

_CONCEPT_COLUMNS = (
    "concept_id",
    "concept_name",
    "concept_name_ko",
    "domain_id",
    "vocabulary_id",
    "concept_class_id",
    "standard_concept",
    "concept_code",
)
_METADATA_KINDS: tuple[MetadataKind, ...] = ("vocabulary", "domain", "concept_class", "relationship")
_LANGUAGES: tuple[Language, ...] = ("en", "ko")
_DATA_RELATIONSHIPS = (MAPS_TO, IS_A)


def shipped_data_dir() -> Traversable:
    """The folder of the CSV files that ship inside the package."""
    return resources.files("dari.vocab").joinpath("data")


@cache
def shipped_vocabulary() -> Vocabulary:
    """The validated vocabulary shipped with dari (loaded once per process)."""
    return load_vocabulary(shipped_data_dir())


def load_vocabulary(directory: Traversable | Path) -> Vocabulary:
    """Read and validate concepts, synonyms, relationships and metadata CSVs from a folder."""
    metadata = _read_metadata(directory)
    concepts, concept_lines = _read_concepts(directory, metadata)
    by_id = {c.concept_id: c for c in concepts}
    synonyms = _read_synonyms(directory, by_id)
    relationships = _read_relationships(directory, by_id)
    mapped = {r.concept_id_1 for r in relationships if r.relationship_id == MAPS_TO}
    for c in concepts:
        if not c.standard_concept and c.concept_id != NO_MATCHING_CONCEPT_ID and c.concept_id not in mapped:
            raise InputError(
                f"non-standard concept {c.vocabulary_id} {c.concept_code} has no 'Maps to' row in {RELATIONSHIPS_FILE}",
                file=str(directory.joinpath(CONCEPTS_FILE)),
                row=concept_lines[c.concept_id],
                column="concept_id",
            )
    return Vocabulary(tuple(concepts), tuple(synonyms), tuple(relationships), tuple(metadata))


def _rows(directory: Traversable | Path, name: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; the header must hold the required columns."""
    file = directory.joinpath(name)
    label = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("vocabulary file is missing", file=label) from None
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 ({exc.reason})", file=label, row=line) from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError("header lacks a required column", file=label, row=1, column=missing[0])
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise InputError("wrong number of fields", file=label, row=reader.line_num)
        yield reader.line_num, {k: v.strip() for k, v in row.items()}


def _int(value: str, file: str, line: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"expected an integer, got {value!r}", file=file, row=line, column=column) from None


def _require(value: str, file: str, line: int, column: str) -> str:
    if not value:
        raise InputError("value is required", file=file, row=line, column=column)
    return value


def _read_metadata(directory: Traversable | Path) -> list[MetadataEntry]:
    label = str(directory.joinpath(METADATA_FILE))
    out: list[MetadataEntry] = []
    seen_ids: set[tuple[str, str]] = set()
    seen_concepts: set[int] = set()
    for line, row in _rows(directory, METADATA_FILE, ("kind", "id", "name", "concept_id")):
        kind = row["kind"]
        if kind not in _METADATA_KINDS:
            raise InputError(f"kind must be one of {_METADATA_KINDS}", file=label, row=line, column="kind")
        key = (kind, _require(row["id"], label, line, "id"))
        cid = _int(row["concept_id"], label, line, "concept_id")
        if key in seen_ids:
            raise InputError(f"duplicate {kind} {key[1]!r}", file=label, row=line, column="id")
        if cid in seen_concepts or cid <= LOCAL_CONCEPT_ID_MIN:
            raise InputError(
                "concept_id must be unique and in the local range", file=label, row=line, column="concept_id"
            )
        seen_ids.add(key)
        seen_concepts.add(cid)
        out.append(
            MetadataEntry(
                kind=kind,
                id=key[1],
                name=_require(row["name"], label, line, "name"),
                concept_id=cid,
                reference=row.get("reference", ""),
                version=row.get("version", ""),
                reverse_relationship_id=row.get("reverse_relationship_id", ""),
                is_hierarchical=row.get("is_hierarchical", ""),
                defines_ancestry=row.get("defines_ancestry", ""),
            )
        )
    return out


def _read_concepts(
    directory: Traversable | Path, metadata: list[MetadataEntry]
) -> tuple[list[Concept], dict[int, int]]:
    label = str(directory.joinpath(CONCEPTS_FILE))
    known: dict[str, set[str]] = {kind: {m.id for m in metadata if m.kind == kind} for kind in _METADATA_KINDS}
    metadata_ids = {m.concept_id for m in metadata}
    out: list[Concept] = []
    ids: dict[int, int] = {}
    codes: set[tuple[str, str]] = set()
    for line, row in _rows(directory, CONCEPTS_FILE, _CONCEPT_COLUMNS):
        cid = _int(row["concept_id"], label, line, "concept_id")
        if cid != NO_MATCHING_CONCEPT_ID and cid <= LOCAL_CONCEPT_ID_MIN:
            raise InputError(
                f"concept_id {cid} is outside the local range (> {LOCAL_CONCEPT_ID_MIN:,})",
                file=label,
                row=line,
                column="concept_id",
            )
        if cid in ids or cid in metadata_ids:
            raise InputError(f"duplicate concept_id {cid}", file=label, row=line, column="concept_id")
        for column, kind in (
            ("domain_id", "domain"),
            ("vocabulary_id", "vocabulary"),
            ("concept_class_id", "concept_class"),
        ):
            if _require(row[column], label, line, column) not in known[kind]:
                raise InputError(
                    f"{row[column]!r} is not declared in {METADATA_FILE}", file=label, row=line, column=column
                )
        std = row["standard_concept"]
        if std not in ("", "S", "C"):
            raise InputError(
                "standard_concept must be 'S', 'C' or empty", file=label, row=line, column="standard_concept"
            )
        name, name_ko = _require(row["concept_name"], label, line, "concept_name"), row["concept_name_ko"]
        if std == "S" and not name_ko:
            raise InputError("a standard concept needs a Korean name", file=label, row=line, column="concept_name_ko")
        code = _require(row["concept_code"], label, line, "concept_code")
        if len(name) > 255 or len(code) > 50:
            raise InputError(
                "longer than the CDM column allows",
                file=label,
                row=line,
                column="concept_name" if len(name) > 255 else "concept_code",
            )
        key = (row["vocabulary_id"], normalise_code(row["vocabulary_id"], code))
        if key in codes:
            raise InputError(
                f"duplicate code {code!r} in vocabulary {key[0]}", file=label, row=line, column="concept_code"
            )
        athena = row.get("athena_concept_id", "")
        ids[cid] = line
        codes.add(key)
        out.append(
            Concept(
                concept_id=cid,
                concept_name=name,
                concept_name_ko=name_ko,
                domain_id=row["domain_id"],
                vocabulary_id=row["vocabulary_id"],
                concept_class_id=row["concept_class_id"],
                standard_concept=std or None,
                concept_code=code,
                athena_concept_id=_int(athena, label, line, "athena_concept_id") if athena else None,
                note=row.get("note", ""),
            )
        )
    return out, ids


def _read_synonyms(directory: Traversable | Path, by_id: dict[int, Concept]) -> list[Synonym]:
    label = str(directory.joinpath(SYNONYMS_FILE))
    out: list[Synonym] = []
    for line, row in _rows(directory, SYNONYMS_FILE, ("concept_id", "language", "synonym")):
        cid = _int(row["concept_id"], label, line, "concept_id")
        if cid not in by_id:
            raise InputError(f"concept_id {cid} is not in {CONCEPTS_FILE}", file=label, row=line, column="concept_id")
        lang = row["language"]
        if lang not in _LANGUAGES:
            raise InputError("language must be 'en' or 'ko'", file=label, row=line, column="language")
        out.append(Synonym(cid, lang, _require(row["synonym"], label, line, "synonym")))
    return out


def _read_relationships(directory: Traversable | Path, by_id: dict[int, Concept]) -> list[Relationship]:
    label = str(directory.joinpath(RELATIONSHIPS_FILE))
    out: list[Relationship] = []
    seen: set[tuple[int, str, int]] = set()
    mapped_at: dict[int, int] = {}
    lines: dict[tuple[int, int], int] = {}
    for line, row in _rows(directory, RELATIONSHIPS_FILE, ("concept_id_1", "relationship_id", "concept_id_2")):
        rel = row["relationship_id"]
        if rel not in _DATA_RELATIONSHIPS:
            raise InputError(
                f"relationship_id must be one of {_DATA_RELATIONSHIPS} (reverses are derived)",
                file=label,
                row=line,
                column="relationship_id",
            )
        ends = []
        for column in ("concept_id_1", "concept_id_2"):
            cid = _int(row[column], label, line, column)
            if cid not in by_id:
                raise InputError(f"concept_id {cid} is not in {CONCEPTS_FILE}", file=label, row=line, column=column)
            ends.append(by_id[cid])
        src, dst = ends
        key = (src.concept_id, rel, dst.concept_id)
        if key in seen:
            raise InputError("duplicate relationship", file=label, row=line)
        seen.add(key)
        if rel == MAPS_TO:
            check_mapping(src, dst, label, line)
            if src.concept_id in mapped_at:
                raise InputError(
                    f"concept {src.concept_id} already maps to a standard concept (line "
                    f"{mapped_at[src.concept_id]}); exactly one is allowed",
                    file=label,
                    row=line,
                    column="concept_id_1",
                )
            mapped_at[src.concept_id] = line
        else:
            for column, end in (("concept_id_1", src), ("concept_id_2", dst)):
                if not (end.is_standard or end.is_classification):
                    raise InputError(
                        "'Is a' links standard or classification concepts only",
                        file=label,
                        row=line,
                        column=column,
                    )
            lines[(src.concept_id, dst.concept_id)] = line
        out.append(Relationship(src.concept_id, rel, dst.concept_id))
    check_acyclic(lines, label)
    return out
