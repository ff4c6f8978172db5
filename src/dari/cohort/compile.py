"""A resolved cohort definition as Ibis expressions over the site's CDM (one expression, DuckDB or PostgreSQL).

Semantics, documented in docs/cohort-definitions.md:
- candidate index events: the concept set's events in the index domain (`first`: only each person's earliest,
  taken before any other filter, as OHDSI's "first time in the person's history"; `all`: every event date);
  an event outside every observation period is no candidate (as in circe);
- each attrition step is a flag on a candidate event: observation window, age, sex, then each inclusion rule in
  order; a person passes step k when at least one of their events passes steps 0..k;
- inclusion rules count events whose start date lies in [index + start_days, index + end_days] (both ends
  inclusive) and inside the index event's observation period;
- the cohort holds one entry per person: the earliest event passing every step; exit is index + days (never past
  the observation period's end) or the end of the observation period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
from ibis.backends.sql import SQLBackend  # type: ignore[import-untyped]

from dari.cdm.store import CdmStore
from dari.cohort.backend import cdm_table, ibis_session, require_columns
from dari.cohort.definition import (
    CohortDefinition,
    CriteriaGroup,
    FixedOffsetExit,
    GroupRule,
    IndexEvent,
    ObservationEndExit,
    ValueRange,
    Window,
    rule_criteria,
)
from dari.cohort.resolve import ResolvedDefinition, resolve_definition

KEY = ("person_id", "index_date", "op_start")


@dataclass(frozen=True)
class DomainColumns:
    """Where a domain's events live: table, concept column, start-date column, primary key."""

    table: str
    concept: str
    date: str
    event_id: str


DOMAINS: dict[str, DomainColumns] = {
    "condition_occurrence": DomainColumns(
        "condition_occurrence", "condition_concept_id", "condition_start_date", "condition_occurrence_id"
    ),
    "drug_exposure": DomainColumns("drug_exposure", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_id"),
    "measurement": DomainColumns("measurement", "measurement_concept_id", "measurement_date", "measurement_id"),
    "procedure_occurrence": DomainColumns(
        "procedure_occurrence", "procedure_concept_id", "procedure_date", "procedure_occurrence_id"
    ),
    "observation": DomainColumns("observation", "observation_concept_id", "observation_date", "observation_id"),
    "visit_occurrence": DomainColumns(
        "visit_occurrence", "visit_concept_id", "visit_start_date", "visit_occurrence_id"
    ),
}


@dataclass(frozen=True)
class CompiledCohort:
    """Candidate index events with per-step flags `flag_k` and cumulative `step_k`, and how to pick entries."""

    events: ir.Table
    steps: tuple[str, ...]
    exit: FixedOffsetExit | ObservationEndExit

    def entries(self, events: ir.Table | None = None) -> ir.Table:
        """The cohort, one row per person, from `events` (default: the compiled, not materialised, events)."""
        return _entries(self.events if events is None else events, len(self.steps) - 1, self.exit)


def shift(date: ir.DateValue, days: int) -> ir.DateValue:
    """date + days, still a DATE on both backends (date + interval is a TIMESTAMP in PostgreSQL)."""
    return (date.cast("timestamp") + ibis.interval(days=days)).cast("date")


def shift_by(date: ir.DateValue, days: ir.IntegerValue) -> ir.DateValue:
    """date + a column of days (NULL where days is NULL), as a DATE on both backends."""
    return (date.cast("timestamp") + days.cast("int64").as_interval("D")).cast("date")


# circe-be's end_date of an event (its *SqlBuilder select clauses): the CDM's end column where the domain has one,
# with circe's fallbacks where it is NULL; a visit without an end date has none (circe then drops the entry).
_END_COLUMNS = {
    "condition_occurrence": ["condition_end_date"],
    "drug_exposure": ["drug_exposure_end_date", "days_supply"],
    "visit_occurrence": ["visit_end_date"],
}


def _event_end(t: ir.Table, domain: str, start: ir.DateValue) -> ir.DateValue:
    day_after = shift(start, 1)
    if domain == "condition_occurrence":
        return ibis.coalesce(t.condition_end_date.cast("date"), day_after)
    if domain == "drug_exposure":
        return ibis.coalesce(t.drug_exposure_end_date.cast("date"), shift_by(start, t.days_supply), day_after)
    if domain == "visit_occurrence":
        return t.visit_end_date.cast("date")
    return day_after  # measurement, observation, procedure: circe's start + 1 day


def domain_events(
    backend: SQLBackend,
    domain: str,
    concept_ids: Sequence[int],
    value: ValueRange | None = None,
    unit_id: int | None = None,
    *,
    with_end: bool = False,
) -> ir.Table:
    """Events of the concepts in a domain: person_id, event_date, event_id (and value for measurements; and
    `event_end`, circe's end date of the event, if `with_end`)."""
    cols = DOMAINS[domain]
    t = cdm_table(backend, cols.table)
    needed = ["person_id", cols.concept, cols.date, cols.event_id] + (_END_COLUMNS.get(domain, []) if with_end else [])
    require_columns(t, cols.table, needed + (["value_as_number", "unit_concept_id"] if domain == "measurement" else []))
    preds = [t[cols.concept].isin(list(concept_ids))]
    out = {
        "person_id": t.person_id.cast("int64"),
        "event_date": t[cols.date],
        "event_id": t[cols.event_id].cast("int64"),
    }
    if with_end:
        out["event_end"] = _event_end(t, domain, t[cols.date].cast("date"))
    if domain == "measurement":
        v = t.value_as_number.cast("float64")
        out["value"] = v
        if value is not None:
            preds += _value_predicates(v, value)
        if unit_id is not None:
            preds.append(t.unit_concept_id == unit_id)
    return t.filter(*preds).select(**out)


def _value_predicates(v: ir.FloatingValue, r: ValueRange) -> list[ir.BooleanValue]:
    preds: list[ir.BooleanValue] = []
    if r.gt is not None:
        preds.append(v > r.gt)
    if r.gte is not None:
        preds.append(v >= r.gte)
    if r.lt is not None:
        preds.append(v < r.lt)
    if r.lte is not None:
        preds.append(v <= r.lte)
    return preds


def window_join(index: ir.Table, events: ir.Table, window: Window, *, within_observation: bool = True) -> ir.Table:
    """Pairs (index row, event) with the event's date in the window around index_date (both ends inclusive)."""
    preds = [index.person_id == events.person_id]
    if within_observation:
        preds += [events.event_date >= index.op_start, events.event_date <= index.op_end]
    if window.start_days is not None:
        preds.append(events.event_date >= shift(index.index_date, window.start_days))
    if window.end_days is not None:
        preds.append(events.event_date <= shift(index.index_date, window.end_days))
    return index.join(events, preds).select(*[index[k] for k in KEY], *[c for c in events.columns if c not in KEY])


def window_counts(
    index: ir.Table, events: ir.Table, window: Window, name: str, *, within_observation: bool = True
) -> ir.Table:
    """KEY + `name` = number of events in the window, for index rows with at least one such event."""
    pairs = window_join(index, events, window, within_observation=within_observation)
    return pairs.group_by(list(KEY)).agg(**{name: pairs.count()})


def attach_counts(index: ir.Table, counts: ir.Table, name: str) -> ir.Table:
    """Every index row with the count `name` from `counts` (0 where it has no row)."""
    joined = index.left_join(counts, list(KEY))
    return joined.select(*[index[c] for c in index.columns], **{name: joined[name].fill_null(0)})


def _occurrence_ok(n: ir.IntegerValue, kind: Literal["at_least", "at_most", "exactly"], count: int) -> ir.BooleanValue:
    if kind == "at_least":
        return n >= count
    if kind == "at_most":
        return n <= count
    return n == count


def _candidates(backend: SQLBackend, d: CohortDefinition, r: ResolvedDefinition) -> ir.Table:
    ix = d.index
    # The index event's own end date is read only for an exit on it (other cohorts' SQL stays as it was).
    with_end = isinstance(d.exit, FixedOffsetExit) and d.exit.date_field == "end_date"
    keep = ["person_id"] + (["event_id", "event_end"] if with_end else [])
    ev = domain_events(
        backend, ix.domain, r.concept_sets[ix.concept_set], ix.value, r.units.get("index.value.unit"), with_end=with_end
    )
    if ix.also or with_end:
        # Dates cast alike: an ETL may type one domain's date column as a timestamp, and a union needs one schema.
        ev = ev.select(*keep, event_date=ev.event_date.cast("date"))
    for k, c in enumerate(ix.also):  # several primary criteria: their events together are the candidates
        more = domain_events(
            backend,
            c.domain,
            r.concept_sets[c.concept_set],
            c.value,
            r.units.get(f"index.also[{k}].value.unit"),
            with_end=with_end,
        )
        ev = ev.union(more.select(*keep, event_date=more.event_date.cast("date")), distinct=False)
    if ix.occurrence == "first":
        dates = ev.group_by("person_id").agg(index_date=ev.event_date.min())
    else:
        dates = ev.select("person_id", index_date=ev.event_date).distinct()
    if with_end:
        # circe orders a person's events by (start date, event id): of events on one date, the lowest id is the
        # index event, and its end date is the one the exit offsets.
        ranked = ev.mutate(k=ibis.row_number().over(group_by=[ev.person_id, ev.event_date], order_by=ev.event_id))
        ends = ranked.filter(ranked.k == 0).select("person_id", "event_date", "event_end")
        dates = dates.join(ends, [dates.person_id == ends.person_id, dates.index_date == ends.event_date]).select(
            dates.person_id, dates.index_date, index_end=ends.event_end
        )
    op = cdm_table(backend, "observation_period")
    require_columns(
        op, "observation_period", ["person_id", "observation_period_start_date", "observation_period_end_date"]
    )
    person = cdm_table(backend, "person")
    require_columns(person, "person", ["person_id", "year_of_birth", "gender_concept_id"])
    in_op = dates.join(
        op,
        [
            dates.person_id == op.person_id,
            dates.index_date >= op.observation_period_start_date,
            dates.index_date <= op.observation_period_end_date,
        ],
    ).select(
        *[dates[c] for c in dates.columns],
        op_start=op.observation_period_start_date,
        op_end=op.observation_period_end_date,
    )
    return in_op.join(person, in_op.person_id == person.person_id).select(
        in_op,
        age=(in_op.index_date.year() - person.year_of_birth).cast("int64"),
        gender_concept_id=person.gender_concept_id.cast("int64"),
    )


def _age_label(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"age {low} to {high}"
    return f"age ≥ {low}" if low is not None else f"age ≤ {high}"


def _index_flags(t: ir.Table, index: IndexEvent, sexes: Sequence[int]) -> list[tuple[str, ir.BooleanValue]]:
    flags: list[tuple[str, ir.BooleanValue]] = [("index event", ibis.literal(True))]
    ow = index.observation_window
    if ow.prior_days or ow.post_days:
        ok = ibis.literal(True)
        if ow.prior_days:
            ok = ok & (shift(t.op_start, ow.prior_days) <= t.index_date)
        if ow.post_days:
            ok = ok & (shift(t.index_date, ow.post_days) <= t.op_end)
        flags.append((f"observation window ({ow.prior_days} days prior, {ow.post_days} days post)", ok))
    if index.age is not None:
        low, high = index.age.min, index.age.max
        ok = ibis.literal(True)
        if low is not None:
            ok = ok & (t.age >= low)
        if high is not None:
            ok = ok & (t.age <= high)
        flags.append((_age_label(low, high), ok))
    if index.sex is not None:
        flags.append((f"sex {'/'.join(index.sex)}", t.gender_concept_id.isin(sorted(sexes))))
    return flags


def _group_ok(group: CriteriaGroup, path: str, ok: dict[str, ir.BooleanValue]) -> ir.BooleanValue:
    """circe-be's groupQuery: the number of members (criteria, then nested groups) that hold, against the type."""
    members = [ok[p] for p, _ in ((f"{path}.criteria[{j}]", c) for j, c in enumerate(group.criteria))]
    members += [_group_ok(g, f"{path}.groups[{k}]", ok) for k, g in enumerate(group.groups)]
    if group.type == "all":
        return ibis.and_(*members)
    if group.type == "any":
        return ibis.or_(*members)
    held = sum((m.ifelse(1, 0) for m in members[1:]), members[0].ifelse(1, 0))
    return held >= group.count if group.type == "at_least" else held <= group.count


def compile_cohort(backend: SQLBackend, definition: CohortDefinition, resolved: ResolvedDefinition) -> CompiledCohort:
    """Build the candidate events with their attrition flags and the one-entry-per-person cohort."""
    events = _candidates(backend, definition, resolved)
    base = events.select(*KEY, "op_end")
    joined = events
    names: dict[str, str] = {}  # a criterion's JSON path -> its count column
    for path, rule in rule_criteria(definition.inclusion_rules):
        i = len(names)
        # A plain rule keeps its count column's name (n_rule_<rule index>); a group's criteria are numbered on.
        name = f"n_rule_{i}" if path == f"inclusion_rules[{i}]" else f"n_crit_{i}"
        names[path] = name
        unit = resolved.units.get(f"{path}.value.unit")
        rule_events = domain_events(backend, rule.domain, resolved.concept_sets[rule.concept_set], rule.value, unit)
        # Every rule counts against the same candidate keys (the expression grows linearly with the rules), and
        # all counts join in one flat join: Ibis compiles that much faster than a chain of mutates.
        within = not rule.ignore_observation_period
        c = window_counts(base, rule_events, rule.window, name, within_observation=within)
        c = c.rename({f"k{i}_{k}": k for k in KEY})
        joined = joined.left_join(c, [joined[k] == c[f"k{i}_{k}"] for k in KEY])
    # Flags are written over the joined table's own columns: referring to `events` here lets Ibis resolve a key
    # column to the right-hand copy of a left join (NULL where no event matched).
    flags = _index_flags(joined, definition.index, list(resolved.sexes))
    counts = {name: joined[name].fill_null(0) for name in names.values()}
    ok = {
        path: _occurrence_ok(counts[names[path]], rule.occurrence.type, rule.occurrence.count)
        for path, rule in rule_criteria(definition.inclusion_rules)
    }
    for i, r in enumerate(definition.inclusion_rules):
        if isinstance(r, GroupRule):
            flags.append((r.name, _group_ok(r.group, f"inclusion_rules[{i}].group", ok)))
        else:
            flags.append((r.name, ok[f"inclusion_rules[{i}]"]))
    steps: dict[str, ir.BooleanValue] = {}
    acc: ir.BooleanValue = ibis.literal(True)
    for k, (_, flag) in enumerate(flags):
        acc = acc & flag
        steps[f"step_{k}"] = acc
    events = joined.select(
        *[joined[c] for c in events.columns],
        **counts,
        **{f"flag_{k}": flag for k, (_, flag) in enumerate(flags)},
        **steps,
    )
    step_names = tuple(name for name, _ in flags)
    return CompiledCohort(events=events, steps=step_names, exit=definition.exit)


def _entries(events: ir.Table, last: int, exit_: FixedOffsetExit | ObservationEndExit) -> ir.Table:
    passed = events.filter(events[f"step_{last}"])
    first = passed.mutate(
        rank=ibis.row_number().over(group_by=passed.person_id, order_by=[passed.index_date, passed.op_start])
    )
    entry = first.filter(first["rank"] == 0)
    end: ir.DateValue = entry.op_end
    if isinstance(exit_, FixedOffsetExit):
        base = entry.index_end if exit_.date_field == "end_date" else entry.index_date
        offset = shift(base, exit_.days)
        end = ibis.ifelse(offset <= entry.op_end, offset, entry.op_end)
        if exit_.date_field == "end_date":
            # circe keeps an entry only when its end is on or after its start (cohort_rows: CE.end_date >=
            # I.start_date): an event whose end precedes its start, or a visit without an end, makes no entry.
            entry = entry.mutate(cohort_end_date=end)
            entry = entry.filter(entry.cohort_end_date.notnull(), entry.cohort_end_date >= entry.index_date)
            end = entry.cohort_end_date
    return entry.select(
        "person_id",
        "index_date",
        "op_start",
        "op_end",
        "age",
        "gender_concept_id",
        cohort_start_date=entry.index_date,
        cohort_end_date=end,
    )


def build_cohort(backend: SQLBackend, definition: CohortDefinition, *, site: str) -> CompiledCohort:
    """Resolve the definition's codes at this site and compile it over the site's CDM."""
    return compile_cohort(backend, definition, resolve_definition(backend, definition, site=site))


def cohort_sql(store: CdmStore, definition: CohortDefinition, *, site: str, dialect: str | None = None) -> str:
    """The cohort query (person_id, cohort_start_date, cohort_end_date) with this site's concept ids, as SQL.

    For a site's reviewers to read before it runs; `dialect` defaults to the store's own ("duckdb", "postgres").
    """
    with ibis_session(store) as backend:
        query = build_cohort(backend, definition, site=site).entries()
        return str(
            ibis.to_sql(
                query.select("person_id", "cohort_start_date", "cohort_end_date"), dialect=dialect or backend.name
            )
        )
