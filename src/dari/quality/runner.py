"""Run the check plan against a CDM store: every check is counted in the engine; only counts come back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from dari.cdm.concepts import GENDER_STANDARD
from dari.cdm.schema import VOCABULARY_TABLES, cdm_tables, quote_ident
from dari.cdm.store import CdmStore
from dari.cdm.version import ADDED_TABLES_V54, Version, field_name, read_cdm_version, require_supported
from dari.quality.catalog import ConceptKey, load_check_descriptions, load_thresholds
from dari.quality.outcome import Counts, outcome
from dari.quality.plan import CheckInstance, build_plan
from dari.quality.report import CheckResult, QualityReport, redact, summarise
from dari.quality.sql import BASE_SOURCE, TEMPLATES, identifiers, needed, render, value_names

Progress = Callable[[int, int], None]
_Part = tuple[str, list[Any]]


class _Run:
    def __init__(self, store: CdmStore, plan: list[CheckInstance], progress: Progress | None) -> None:
        self.store, self.plan, self.progress = store, plan, progress
        self.columns = store.table_columns()
        self.types = self._column_types()
        self.rows: dict[str, int] = {}
        self.done: dict[int, CheckResult] = {}

    def _column_types(self) -> dict[tuple[str, str], str]:
        try:
            rows = self.store.query(
                "SELECT lower(table_name), lower(column_name), lower(data_type) FROM "
                "information_schema.columns WHERE table_schema = current_schema()",
                [],
            )
        except Exception:  # types only spare work; without them every check still runs
            return {}
        return {(str(t), str(c)): str(d) for t, c, d in rows}

    def record(self, i: int, counts: Counts | None = None, *, error: str | None = None, na: str | None = None) -> None:
        self.done[i] = outcome(self.plan[i], counts, error=error, na=na)

    def tick(self) -> None:
        if self.progress is not None:
            self.progress(len(self.done), len(self.plan))

    # --- applicability -------------------------------------------------------------------------------------
    def resolve_concepts(self) -> str | None:
        """Fill concept-id values from (vocabulary, code) keys; the reason concepts cannot be used, if any."""
        keys = {
            k
            for inst in self.plan
            for v in inst.concepts.values()
            for k in (v if isinstance(v, tuple) else (v,))
            if k.concept_id is None
        }
        found: dict[ConceptKey, int] = {}
        reason = self._vocabulary_reason("concept")
        if keys and reason is None:
            codes = sorted({k.concept_code for k in keys})
            try:
                rows = self.store.query(
                    "SELECT concept_id, vocabulary_id, concept_code FROM concept WHERE "
                    f"concept_code IN ({', '.join('?' for _ in codes)})",
                    codes,
                )
            except Exception as exc:
                rows, reason = [], f"concept look-up failed: {redact(str(exc))}"
            for cid, vocab, code in rows:
                found.setdefault(ConceptKey(vocabulary_id=str(vocab), concept_code=str(code)), int(cid))
        # A CDM on Athena vocabularies may lack the Gender rows (Eunomia does): its persons still carry 8507/8532.
        for cid, code in GENDER_STANDARD.items():
            found.setdefault(ConceptKey(vocabulary_id="Gender", concept_code=code), cid)
        for inst in self.plan:
            for name, key in inst.concepts.items():
                ids = [
                    k.concept_id if k.concept_id is not None else found.get(k)
                    for k in (key if isinstance(key, tuple) else (key,))
                ]
                known = tuple(c for c in ids if c is not None)
                if isinstance(key, tuple):
                    inst.values[name] = known or None
                else:
                    inst.values[name] = known[0] if known else None
        return reason

    def _vocabulary_reason(self, table: str) -> str | None:
        if table not in self.columns:
            return f"no {table} table"
        if table not in self.rows:
            try:
                self.rows[table] = int(
                    self.store.query(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quote_ident(table)} LIMIT 1) x", [])[0][0]
                )
            except Exception as exc:
                return f"{table} table unreadable: {redact(str(exc))}"
        return f"{table} table is empty" if self.rows[table] == 0 else None

    def inapplicable(self, inst: CheckInstance, concept_reason: str | None) -> str | None:
        template = TEMPLATES[inst.check.sql_template]
        for table, field in needed(template, inst.slots):
            if table not in self.columns:
                return f"table {table} does not exist"
            if field and field not in self.columns[table]:
                return f"field {table}.{field} does not exist"
            if table in VOCABULARY_TABLES and table != inst.target.table and self._vocabulary_reason(table):
                return self._vocabulary_reason(table)
        for name, key in inst.concepts.items():
            if inst.values.get(name) is None:
                labels = ", ".join(k.label for k in (key if isinstance(key, tuple) else (key,)))
                return concept_reason or f"concept {labels} not in the concept table"
        return None

    # --- execution -----------------------------------------------------------------------------------------
    def parts(self, inst: CheckInstance) -> tuple[_Part, _Part, _Part]:
        template = TEMPLATES[inst.check.sql_template]
        idents = identifiers(inst.slots)
        violated = template.violated
        if self.types.get((inst.target.table, inst.target.field or "")) in template.exempt_types:
            violated = "1 = 0"
        return (
            render(template.source, idents, inst.values),
            render(violated, idents, inst.values),
            render(template.denominator, idents, inst.values),
        )

    def aggregate(self, source: _Part, members: list[tuple[int, _Part, _Part]], count_rows: str | None) -> None:
        exprs: dict[tuple[str, tuple[Any, ...]], int] = {}
        for _, v, d in members:
            for sql, params in (v, d):
                exprs.setdefault((sql, tuple(params)), len(exprs))
        select = ["COUNT(*)"] if count_rows else []
        select += [f"SUM(CASE WHEN ({sql}) THEN 1 ELSE 0 END)" for sql, _ in exprs]
        params = [p for _, ps in exprs for p in ps] + source[1]
        try:
            row = self.store.query(f"SELECT {', '.join(select)} FROM {source[0]}", params)[0]
        except Exception:
            if count_rows:
                self.rows[count_rows] = self._count(count_rows)
            for member in members:  # one by one, so that an error names its own check
                self._single(source, member)
            self.tick()
            return
        if count_rows:
            self.rows[count_rows] = int(row[0] or 0)
        offset = 1 if count_rows else 0
        for i, v, d in members:
            if count_rows and self.rows[count_rows] == 0:
                self.record(i, na="table is empty")
                continue
            cv = row[offset + exprs[(v[0], tuple(v[1]))]]
            cd = row[offset + exprs[(d[0], tuple(d[1]))]]
            self.record(i, (int(cv or 0), int(cd or 0)))
        self.tick()

    def _count(self, table: str) -> int:
        try:
            return int(self.store.query(f"SELECT COUNT(*) FROM {quote_ident(table)}", [])[0][0])
        except Exception:
            return -1

    def _single(self, source: _Part, member: tuple[int, _Part, _Part]) -> None:
        i, v, d = member
        sql = (
            f"SELECT SUM(CASE WHEN ({v[0]}) THEN 1 ELSE 0 END), SUM(CASE WHEN ({d[0]}) THEN 1 ELSE 0 END) "
            f"FROM {source[0]}"
        )
        try:
            row = self.store.query(sql, v[1] + d[1] + source[1])[0]
            self.record(i, (int(row[0] or 0), int(row[1] or 0)))
        except Exception as exc:
            self.record(i, error=redact(f"{type(exc).__name__}: {exc}"))

    def query(self, i: int) -> None:
        _, (v, vp), (d, dp) = self.parts(self.plan[i])
        try:
            row = self.store.query(f"SELECT ({v}), ({d})", vp + dp)[0]
            self.record(i, (int(row[0] or 0), int(row[1] or 0)))
        except Exception as exc:
            self.record(i, error=redact(f"{type(exc).__name__}: {exc}"))
        self.tick()

    def metadata(self, i: int) -> None:
        t = self.plan[i].target
        if t.field is None:
            self.record(i, (0 if t.table in self.columns else 1, 1))
        elif t.table not in self.columns:
            self.record(i, na=f"table {t.table} does not exist")
        else:
            self.record(i, (0 if t.field in self.columns[t.table] else 1, 1))

    def execute(self) -> list[CheckResult]:
        concept_reason = self.resolve_concepts()
        groups: dict[tuple[str, str, tuple[Any, ...]], list[tuple[int, _Part, _Part]]] = {}
        queries: list[int] = []
        for i, inst in enumerate(self.plan):
            template = TEMPLATES[inst.check.sql_template]
            if i in self.done:  # decided before the run (a table or field the CDM's version does not have)
                continue
            if template.kind == "metadata":
                self.metadata(i)
                continue
            reason = self.inapplicable(inst, concept_reason)
            missing = [
                n
                for n in value_names(template.source + template.violated + template.denominator)
                if inst.values.get(n) is None
            ]
            if reason:
                self.record(i, na=reason)
            elif missing:
                self.record(i, error=f"the thresholds give no {', '.join(missing)} for this check")
            elif template.kind == "query":
                queries.append(i)
            else:
                source, v, d = self.parts(inst)
                groups.setdefault((inst.target.table, source[0], tuple(source[1])), []).append((i, v, d))
        self.tick()
        pending = {table for table, _, _ in groups} | {self.plan[i].target.table for i in queries}
        for table in (t for t in cdm_tables() if t in pending):  # one scan per table, which also counts rows
            base = render(BASE_SOURCE, identifiers({"table": table}), {})
            self.aggregate(base, groups.pop((table, base[0], tuple(base[1])), []), count_rows=table)
        for (table, sql, params), members in groups.items():
            if self.rows.get(table) == 0:
                for i, _, _ in members:
                    self.record(i, na="table is empty")
            else:
                self.aggregate((sql, list(params)), members, count_rows=None)
        for i in queries:
            if self.rows.get(self.plan[i].target.table) == 0:
                self.record(i, na="table is empty")
            else:
                self.query(i)
        self.tick()
        return [self.done[i] for i in range(len(self.plan))]


def for_version(plan: list[CheckInstance], version: Version) -> tuple[list[CheckInstance], set[int]]:
    """The plan with v5.4 field names translated to `version`'s, and the checks on what that version lacks."""
    if version == "v5.4":
        return plan, set()
    out: list[CheckInstance] = []
    absent: set[int] = set()
    for i, inst in enumerate(plan):
        t = inst.target
        names = {
            slot: field_name(table, name, version) if name else name
            for slot, table, name in (
                ("field", t.table, t.field),
                ("other_field", t.table, t.other_field),
                ("fk_field", t.fk_table or t.table, t.fk_field),
            )
        }
        if (t.field and names["field"] is None) or (t.other_field and names["other_field"] is None):
            absent.add(i)
        if t.table in ADDED_TABLES_V54 or (t.fk_table in ADDED_TABLES_V54):
            absent.add(i)
        if t.fk_field and names["fk_field"] is None:
            absent.add(i)
        if i in absent:
            out.append(inst)
            continue
        target = replace(t, field=names["field"], other_field=names["other_field"], fk_field=names["fk_field"])
        out.append(replace(inst, target=target))
    return out, absent


def run_checks(
    store: CdmStore,
    *,
    checks_file: Path | str | None = None,
    thresholds_file: Path | str | None = None,
    progress: Progress | None = None,
) -> QualityReport:
    """Run every data-quality check on a CDM; a check that cannot run is recorded as an error, not raised."""
    started, t0 = datetime.now(UTC), perf_counter()
    checks = load_check_descriptions(Path(checks_file) if checks_file else None)
    thresholds = load_thresholds(Path(thresholds_file) if thresholds_file else None)
    found = read_cdm_version(store)
    version = require_supported(found)
    plan, absent = for_version(build_plan(checks, thresholds), version)
    run = _Run(store, plan, progress)
    for i in absent:
        run.record(i, na=f"not a field or table of OMOP CDM {version}")
    results = run.execute()
    return QualityReport(
        cdm=store.label,
        dialect=store.dialect,
        cdm_version=found.declared,
        checked_as=version,
        version_note=found.note,
        started_at=started,
        duration_s=round(perf_counter() - t0, 3),
        results=results,
        summary=summarise(results),
    )
