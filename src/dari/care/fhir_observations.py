"""One measurement feature from FHIR R4 Observations: codings, panel components, status, units, effective time.

- **Where the value is**: an Observation whose `code` has a coding the spec knows (any coding in `code.coding`,
  LOINC by its URL or OID), or a `component` of any Observation whose code does (systolic 8480-6 inside the
  vital-signs blood-pressure panel 85354-9 or 55284-4). The component takes the Observation's status and time.
- **Status**: final, amended and corrected are used. registered and preliminary (not the result yet),
  cancelled, entered-in-error and unknown are not used; each is noted in the response, never scored on.
- **When**: `effectiveDateTime`, `effectiveInstant`, or `effectivePeriod` (its end, else its start); the
  latest in [at − lookback_days, at] by instant (`dari.care.fhir_time`).
- **Value**: a UCUM `valueQuantity` brought to the spec's unit by `dari.care.fhir_units.unit_factor` (the
  spec's declared factors, then the shipped table: kPa → mm[Hg], µmol/L → mg/dL for creatinine, spellings of
  mL/min/{1.73_m2}); an undeclared unit in the window refuses the request (422): never score on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dari.care.fhir_models import Coding, Observation, _Valued
from dari.care.fhir_time import Candidate, instant_span, latest_value, local_days
from dari.care.fhir_units import system_name, unit_factor
from dari.models.feature_spec import Feature, MeasurementSource
from dari.models.inputs import FeatureValueError

USABLE_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected"})


@dataclass(frozen=True)
class Measured:
    """A feature's latest value in its window (None when none), the resource it came from, and notes on what was
    not used (resource and reason, never a value)."""

    value: float | None
    source: str | None
    notes: tuple[str, ...]


def coded_as(codings: tuple[Coding, ...] | None, system: str, accepted: Any) -> bool:
    """Whether any coding is in `system` (by dari's name for it: URL or OID) with a code in `accepted`."""
    return any(system_name(c.system) == system and c.code in accepted for c in codings or ())


def unread_systems(codings: tuple[Coding, ...] | None) -> list[str]:
    """The code systems of codings dari does not read (sorted, once each)."""
    return sorted({c.system or "(no system)" for c in codings or () if system_name(c.system) is None})


def _effective(obs: Observation) -> Any:
    if obs.effectivePeriod is not None:
        return obs.effectivePeriod.end or obs.effectivePeriod.start
    return obs.effectiveDateTime or obs.effectiveInstant


def _parts(obs: Observation, name: str) -> list[tuple[_Valued, str]]:
    """The Observation itself and each of its components, with the name a message gives them."""
    return [(obs, name), *((c, f"{name}.component[{j}]") for j, c in enumerate(obs.component or ()))]


def measure(f: Feature, observations: tuple[Observation, ...], at: date, tz: ZoneInfo) -> Measured:
    """The latest usable value of `f` in its lookback window ending at `at` (local days in `tz`)."""
    src = f.source
    assert isinstance(src, MeasurementSource)
    low = at - timedelta(days=src.lookback_days)
    found: list[Candidate] = []
    notes: list[str] = []
    for i, obs in enumerate(observations):
        name = f"Observation/{obs.id or i}"
        for part, label in _parts(obs, name):
            if not coded_as(part.code.coding, "loinc", src.codes):
                continue
            if obs.status not in USABLE_OBSERVATION_STATUSES:
                notes.append(f"{label}: status {obs.status!r} is not used (final, amended, corrected only)")
                continue
            when = local_days(_effective(obs), tz)
            if when is None:
                raise FeatureValueError(f, "date", f"{name} has no effective date; its place in time is unknown")
            if when[1] < low or when[0] > at:
                continue  # outside the window: the usual case for older results, not worth a note
            if when[0] != when[1]:
                raise FeatureValueError(f, "date", f"{name} effective date is too imprecise to place in the window")
            value = quantity(f, part, label)
            if value is None:
                notes.append(f"{label}: carries no value (dataAbsentReason or an empty quantity)")
                continue
            start, end = instant_span(_effective(obs), tz)
            found.append((start, end, value, label))
    value, used = latest_value(f, found)
    return Measured(value, used.split(".component[")[0] if used else None, tuple(notes))


def quantity(f: Feature, part: _Valued, name: str) -> float | None:
    """The value in the spec's unit; None when it carries no value (dataAbsentReason)."""
    src = f.source
    assert isinstance(src, MeasurementSource)
    q = part.valueQuantity
    if q is None:
        other = part.other_value()
        if other is not None:
            raise FeatureValueError(
                f, "type", f"{name} carries {other}, not a valueQuantity; a UCUM quantity is expected"
            )
        return None
    if q.value is None:
        return None
    if q.comparator is not None:
        raise FeatureValueError(f, "type", f"{name} value is censored (comparator {q.comparator}); not scored")
    if system_name(q.system) != "ucum" or not q.code:
        raise FeatureValueError(
            f,
            "unit",
            f"{name} valueQuantity must carry a UCUM code (system http://unitsofmeasure.org), "
            f"got {q.system!r}/{q.code!r}",
        )
    factor = unit_factor(src, q.code)
    if factor is None:
        accepted = ", ".join([src.unit, *(c.unit for c in src.convert)])
        raise FeatureValueError(
            f, "unit", f"{name}: unit {q.code!r} is not accepted (UCUM units: {accepted}, or one the table converts)"
        )
    return float(q.value) * factor
