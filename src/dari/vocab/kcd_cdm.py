"""Map KCD codes through a CDM's own vocabulary (an Athena load): KCD7, ICD10, ICD10CM concepts and 'Maps to'.

KCD-7/8 is ICD-10 with Korean extensions, so a KCD code is looked up as a source concept of the KCD7 vocabulary
first, then of WHO ICD10, then of ICD10CM; its valid 'Maps to' rows lead to the standard (mostly SNOMED)
concepts a CDM records. Nothing is invented: a code the vocabulary does not map is reported as unmapped. With
`parent_fallback` a code may borrow the mapping of its nearest parent code (E11.78 → E11.7), and the result says
so in `via`. dari's own site-local ids never appear here; `official.load_kcd_file` is the loader for dari's
synthetic sites, whose CDMs carry the shipped vocabulary.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dari.cdm.store import CdmStore, open_store
from dari.errors import InputError, StoreError
from dari.vocab.model import kcd_with_dot, normalise_kcd_code
from dari.vocab.official import _decode

# Preference order: the Korean vocabulary where Athena has it, then the ICD-10 it extends, then the US variant;
# KCD8 last, which only a CDM carrying dari's shipped vocabulary (a synthetic site) holds: its ids are that CDM's.
SOURCE_VOCABULARIES = ("KCD7", "ICD10", "ICD10CM", "KCD8")


@dataclass(frozen=True)
class KcdMapping:
    """One KCD code, the source concept it was found as, and the standard concepts it maps to."""

    code: str
    source_vocabulary_id: str
    source_concept_id: int
    target_concept_ids: tuple[int, ...]
    target_domain_ids: tuple[str, ...]
    via: str  # the code whose mapping was used: the code itself, or a parent with parent_fallback


@dataclass(frozen=True)
class KcdMappingResult:
    """Mapped codes in input order, and the codes the vocabulary does not map."""

    mapped: tuple[KcdMapping, ...]
    unmapped: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {"mapped": [asdict(m) for m in self.mapped], "unmapped": list(self.unmapped)}

    def to_json(self) -> str:
        """The result as one JSON object."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


_Mapped = tuple[int, list[tuple[int, str]]]


def _vocabulary_maps(store: CdmStore) -> dict[str, dict[str, _Mapped]]:
    """vocabulary → bare code → (source concept id, [(standard concept id, domain)]) for the KCD-like vocabularies."""
    tables = store.table_columns()
    for table in ("concept", "concept_relationship"):
        if table not in tables:
            raise StoreError(f"the CDM at {store.label} has no {table} table: load a vocabulary first")
    marks = ", ".join("?" for _ in SOURCE_VOCABULARIES)
    rows = store.query(
        "SELECT c.vocabulary_id, c.concept_code, c.concept_id, t.concept_id, t.domain_id "
        "FROM concept c "
        "LEFT JOIN concept_relationship r ON r.concept_id_1 = c.concept_id "
        "AND r.relationship_id = 'Maps to' AND r.invalid_reason IS NULL "
        "LEFT JOIN concept t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S' "
        f"WHERE c.vocabulary_id IN ({marks}) ORDER BY c.concept_id, t.concept_id",
        list(SOURCE_VOCABULARIES),
    )
    out: dict[str, dict[str, _Mapped]] = {v: {} for v in SOURCE_VOCABULARIES}
    for vocabulary_id, code, source_id, target_id, domain in rows:
        entry = out[str(vocabulary_id)].setdefault(normalise_kcd_code(str(code)), (int(source_id), []))
        if target_id is not None:
            entry[1].append((int(target_id), str(domain)))
    return out


def _lookup(maps: dict[str, dict[str, _Mapped]], bare: str) -> tuple[str, _Mapped] | None:
    for vocabulary_id in SOURCE_VOCABULARIES:
        found = maps[vocabulary_id].get(bare)
        if found is not None and found[1]:
            return vocabulary_id, found
    return None


def map_kcd_codes(store: CdmStore, codes: Iterable[str], *, parent_fallback: bool = False) -> KcdMappingResult:
    """Map KCD codes (with or without the dot) to standard concepts through the CDM's 'Maps to' rows."""
    maps = _vocabulary_maps(store)
    mapped: list[KcdMapping] = []
    unmapped: list[str] = []
    seen: set[str] = set()
    for code in codes:
        bare = normalise_kcd_code(code)
        if not bare or bare in seen:
            continue
        seen.add(bare)
        candidates = [bare[:n] for n in range(len(bare), 2, -1)] if parent_fallback else [bare]
        hit = next(((c, found) for c in candidates if (found := _lookup(maps, c)) is not None), None)
        if hit is None:
            unmapped.append(kcd_with_dot(bare))
            continue
        via, (vocabulary_id, (source_id, targets)) = hit
        mapped.append(
            KcdMapping(
                code=kcd_with_dot(bare),
                source_vocabulary_id=vocabulary_id,
                source_concept_id=source_id,
                target_concept_ids=tuple(t for t, _ in targets),
                target_domain_ids=tuple(d for _, d in targets),
                via=kcd_with_dot(via),
            )
        )
    return KcdMappingResult(tuple(mapped), tuple(unmapped))


def map_kcd_file(
    path: Path,
    store: CdmStore,
    *,
    code_column: str = "상병기호",
    encoding: str | None = None,
    delimiter: str = ",",
    parent_fallback: bool = False,
) -> KcdMappingResult:
    """Read a KCD code list (CSV, UTF-8 or CP949) and map its codes through the CDM's own vocabulary."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read KCD file: {exc.strerror}", file=str(path)) from None
    reader = csv.DictReader(io.StringIO(_decode(raw, path, encoding), newline=""), delimiter=delimiter)
    if code_column not in (reader.fieldnames or []):
        raise InputError("KCD file lacks the code column (pass code_column= to rename)", file=str(path), row=1,
                         column=code_column)  # fmt: skip
    codes = [(row.get(code_column) or "").strip() for row in reader]
    return map_kcd_codes(store, codes, parent_fallback=parent_fallback)


def load_kcd(
    path: Path, target: CdmStore | str | Path, *, code_column: str = "상병기호", parent_fallback: bool = False
) -> KcdMappingResult:
    """Map a KCD file through the vocabulary of a CDM given as a store or a target (folder, DuckDB, PostgreSQL URL)."""
    if isinstance(target, (str, Path)):
        store = open_store(target)
        try:
            return map_kcd_file(path, store, code_column=code_column, parent_fallback=parent_fallback)
        finally:
            store.close()
    return map_kcd_file(path, target, code_column=code_column, parent_fallback=parent_fallback)
