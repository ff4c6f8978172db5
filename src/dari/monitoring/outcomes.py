"""Outcomes of scored calls, linked at the site: did the spec's prediction target happen within its horizon?

From the site CDM: each scored call keeps a keyed hash of the FHIR patient id and the evaluation date (site-only,
`dari.care.inference_audit`). The site hashes the FHIR id of every CDM person under the same key (by default the
FHIR id is the person_id, as dari's test EHR sends it; a site whose EHR ids differ passes the mapping), and for each
linked call applies the spec's outcome definition with the evaluation date as index date — the rule
`dari.models.extract_cohort_features` applies to the cohort: any `outcome.measurement` below `outcome.below` in
(date + window_start_days, date + window_end_days], units converted only by the spec's declared factors. With
`exclude_censored`, a non-event whose observation ends inside the window stays unknown.

A call has an outcome only once its horizon has passed by the CDM's data cut-off (default: the latest
observation_period_end_date): counting early events before non-events can be known would inflate the observed rate
of recent windows. Sites that get outcomes elsewhere give them as a CSV of `hook_instance,outcome` instead (or on
top: an explicit outcome wins).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.models import FeatureSpec
from dari.models.cdm_concepts import ConceptLookup
from dari.monitoring.calls import LoggedCall

_CHUNK = 1000  # person ids per IN list
_TRUE = frozenset({"1", "true", "yes", "y"})
_FALSE = frozenset({"0", "false", "no", "n"})


@dataclass(frozen=True)
class OutcomeLinkage:
    """Outcomes by call id, and how many scored calls could not be given one, by reason."""

    outcomes: dict[int, bool]
    not_linked: int  # patient not found in the CDM (or no hash / evaluation date kept)
    horizon_open: int  # horizon not yet passed at the cut-off
    censored: int  # observation ended inside the window (only with exclude_censored)
    as_of: date | None


def data_cutoff(store: CdmStore) -> date | None:
    """The CDM's data cut-off: the latest observation period end."""
    row = store.query("SELECT max(observation_period_end_date) FROM observation_period")
    return row[0][0] if row and row[0][0] is not None else None


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _event_dates(store: CdmStore, spec: FeatureSpec, persons: list[int]) -> dict[int, list[date]]:
    """Dates of outcome measurements below the threshold, per person (spec units, declared factors only)."""
    o = spec.outcome
    factor = {(m, u): f for m, u, f in ConceptLookup(store).lab_pairs(o.measurement)}
    concepts = sorted({m for m, _ in factor})
    events: dict[int, list[date]] = {}
    if not concepts or not persons:
        return events
    concept_list = ", ".join(str(int(c)) for c in concepts)
    for chunk in _chunks(persons):
        person_list = ", ".join(str(int(p)) for p in chunk)
        rows = store.query(
            f"""SELECT person_id, measurement_date, value_as_number, measurement_concept_id, unit_concept_id
                FROM measurement WHERE person_id IN ({person_list}) AND measurement_concept_id IN ({concept_list})
                  AND value_as_number IS NOT NULL"""
        )
        for person, day, value, concept, unit in rows:
            f = factor.get((int(concept), int(unit) if unit is not None else -1))
            if f is not None and float(value) * f < o.below:
                events.setdefault(int(person), []).append(day)
    return events


def _observation(store: CdmStore, persons: list[int]) -> dict[int, list[tuple[date, date]]]:
    periods: dict[int, list[tuple[date, date]]] = {}
    for chunk in _chunks(persons):
        person_list = ", ".join(str(int(p)) for p in chunk)
        for person, start, end in store.query(
            "SELECT person_id, observation_period_start_date, observation_period_end_date FROM observation_period "
            f"WHERE person_id IN ({person_list})"
        ):
            periods.setdefault(int(person), []).append((start, end))
    return periods


def link_cdm_outcomes(
    calls: Iterable[LoggedCall],
    store: CdmStore,
    spec: FeatureSpec,
    patient_hash: Callable[[str], str],
    *,
    as_of: date | None = None,
    fhir_ids: Mapping[int, str] | None = None,
) -> OutcomeLinkage:
    """The spec's outcome for each scored call whose patient is found in the CDM and whose horizon has passed."""
    scored = [c for c in calls if c.scored]
    wanted = {c.patient_hmac for c in scored if c.patient_hmac and c.evaluation_date}
    person_of: dict[str, int] = {}
    if wanted:
        for (person_id,) in store.query("SELECT person_id FROM person"):
            pid = int(person_id)
            digest = patient_hash(fhir_ids.get(pid, str(pid)) if fhir_ids is not None else str(pid))
            if digest in wanted:
                person_of[digest] = pid
    persons = sorted(set(person_of.values()))
    events = _event_dates(store, spec, persons)
    periods = _observation(store, persons) if spec.outcome.exclude_censored else {}
    cutoff = as_of or data_cutoff(store)
    o = spec.outcome
    outcomes: dict[int, bool] = {}
    not_linked = horizon_open = censored = 0
    for c in scored:
        person = person_of.get(c.patient_hmac or "")
        if person is None or c.evaluation_date is None:
            not_linked += 1
            continue
        low = c.evaluation_date + timedelta(days=o.window_start_days)
        high = c.evaluation_date + timedelta(days=o.window_end_days)
        if cutoff is None or high > cutoff:
            horizon_open += 1
            continue
        event = any(low < d <= high for d in events.get(person, ()))
        if not event and o.exclude_censored:
            ends = [end for start, end in periods.get(person, ()) if start <= c.evaluation_date]
            if not ends or max(ends) < high:
                censored += 1
                continue
        outcomes[c.id] = event
    return OutcomeLinkage(outcomes, not_linked, horizon_open, censored, cutoff)


def _outcome_value(raw: str | None, path: Path, row: int) -> bool:
    value = (raw or "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise InputError(
            f"outcome must be 1/0, true/false or yes/no, got {value!r}", file=str(path), row=row, column="outcome"
        )
    return value in _TRUE


def read_outcome_csv(path: Path) -> dict[str, bool]:
    """`hook_instance,outcome` rows (outcome 1/0, true/false, yes/no); errors name the file, row and column."""
    given: dict[str, bool] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"hook_instance", "outcome"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"the header lacks {', '.join(sorted(missing))}", file=str(path), row=1)
            for i, row in enumerate(reader, start=2):
                hook = (row["hook_instance"] or "").strip()
                if not hook or hook in given:
                    why = "is empty" if not hook else f"{hook} appears twice"
                    raise InputError(f"hook_instance {why}", file=str(path), row=i, column="hook_instance")
                given[hook] = _outcome_value(row["outcome"], path, i)
    except OSError as exc:
        raise InputError(f"cannot read the outcomes: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("the outcomes file is not UTF-8 text", file=str(path)) from None
    return given


def read_patient_map(path: Path) -> dict[int, str]:
    """`person_id,fhir_patient_id` rows: the EHR's patient id of each CDM person (where they differ)."""
    ids: dict[int, str] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"person_id", "fhir_patient_id"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"the header lacks {', '.join(sorted(missing))}", file=str(path), row=1)
            for i, row in enumerate(reader, start=2):
                person = (row["person_id"] or "").strip()
                if not person.isdigit():
                    raise InputError("person_id must be an integer", file=str(path), row=i, column="person_id")
                fhir = (row["fhir_patient_id"] or "").strip()
                if not fhir:
                    raise InputError("fhir_patient_id is empty", file=str(path), row=i, column="fhir_patient_id")
                ids[int(person)] = fhir
    except OSError as exc:
        raise InputError(f"cannot read the patient map: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("the patient map is not UTF-8 text", file=str(path)) from None
    return ids


def explicit_outcomes(calls: Iterable[LoggedCall], given: Mapping[str, bool]) -> dict[int, bool]:
    """Outcomes given by hook instance, as call id → outcome (scored calls only)."""
    return {c.id: given[c.hook_instance] for c in calls if c.scored and c.hook_instance in given}
