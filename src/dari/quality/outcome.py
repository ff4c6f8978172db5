"""One check's outcome: counts against the threshold, or why it could not run; and its description."""

from __future__ import annotations

from typing import Any

from dari.quality.catalog import ConceptKey
from dari.quality.plan import CheckInstance
from dari.quality.report import CheckResult

Counts = tuple[int, int]


def outcome(
    inst: CheckInstance, counts: Counts | None = None, *, error: str | None = None, na: str | None = None
) -> CheckResult:
    """The result row: failed when pct_violated exceeds the threshold; no rows to check is not_applicable."""
    t = inst.target
    concept = inst.concepts.get("concept_id")
    unit_id = inst.values.get("unit_concept_id")
    result = CheckResult(
        check_name=inst.check.check_name,
        level=inst.check.level,
        kahn_context=inst.check.kahn_context,
        kahn_category=inst.check.kahn_category,
        kahn_subcategory=inst.check.kahn_subcategory,
        severity=inst.check.severity,
        description=_describe(inst),
        table=t.table or None,
        field=t.field,
        concept_id=inst.values.get("concept_id"),
        unit_concept_id=unit_id if isinstance(unit_id, int) else None,
        concept=concept.label if isinstance(concept, ConceptKey) else None,
        threshold=inst.threshold,
        status="error" if error else "not_applicable",
        error=error,
        not_applicable_reason=na,
    )
    if counts is not None and error is None and na is None:
        violated, denominator = counts
        result.num_violated_rows, result.num_denominator_rows = violated, denominator
        if denominator == 0:
            result.not_applicable_reason = "no rows to check"
        else:
            result.pct_violated = round(100.0 * violated / denominator, 4)
            result.status = "failed" if result.pct_violated > inst.threshold else "passed"
    return result


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _describe(inst: CheckInstance) -> str:
    t = inst.target
    words = _Blank(
        table=t.table,
        field=t.field,
        other_field=t.other_field,
        fk_table=t.fk_table,
        fk_field=t.fk_field,
        threshold=inst.threshold,
    )
    words.update({k: v for k, v in inst.values.items() if v is not None and not isinstance(v, tuple)})
    words.update(
        {k: (", ".join(c.label for c in v) if isinstance(v, tuple) else v.label) for k, v in inst.concepts.items()}
    )
    try:
        return inst.check.description.format_map(words)
    except (ValueError, AttributeError, IndexError):
        return inst.check.description
