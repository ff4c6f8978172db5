"""The de-identifier: run every detector, settle overlaps, spread names and record numbers, replace."""

from __future__ import annotations

import re

from dari.privacy.text.address import find_addresses
from dari.privacy.text.model import DeidResult, Span
from dari.privacy.text.names import find_english_names, find_korean_names, name_occurrences
from dari.privacy.text.patterns import (
    find_ages,
    find_dates,
    find_emails,
    find_mrns,
    find_phones,
    find_rrns,
    is_birth_date,
)
from dari.privacy.text.surrogate import SurrogateMap

# When two findings overlap the more specific, better-validated one wins.
_PRIORITY = {"EMAIL": 0, "RRN": 1, "PHONE": 2, "MRN": 3, "ADDRESS": 4, "DATE": 5, "AGE": 6, "PERSON": 7}
_MRN_AFTER_NAME = re.compile(r"[ \t]*\([ \t]*(\d{6,12})[ \t]*[,)/]")


def _resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans: by label priority, then longer first; result in text order."""
    kept: list[Span] = []
    for span in sorted(set(spans), key=lambda s: (_PRIORITY[s.label], s.start - s.end, s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept)


def _mrn_occurrences(text: str, values: set[str]) -> list[Span]:
    out: list[Span] = []
    for value in values:
        if len(value) >= 6:
            pattern = rf"(?<![\w\-]){re.escape(value)}(?![\w\-])"
            out.extend(Span(m.start(), m.end(), "MRN") for m in re.finditer(pattern, text))
    return out


def detect(text: str) -> list[Span]:
    """All identifier spans in `text` (offsets into it), non-overlapping and in order."""
    found = [
        *find_emails(text),
        *find_rrns(text),
        *find_phones(text),
        *find_mrns(text),
        *find_addresses(text),
        *find_dates(text),
        *find_ages(text),
        *find_korean_names(text),
        *find_english_names(text),
    ]
    spans = _resolve(found)
    # A name found once is a name everywhere in the note (환자 서명: 이순분 after 환자명: 이순분).
    names = {text[s.start : s.end] for s in spans if s.label == "PERSON"}
    more = name_occurrences(text, names)
    # 환자 홍길동 (12345678): a bare number in brackets right after a patient's name is the chart number.
    for s in spans:
        if s.label == "PERSON" and (m := _MRN_AFTER_NAME.match(text, s.end)):
            more.append(Span(m.start(1), m.end(1), "MRN"))
    spans = _resolve(spans + more)
    mrns = {text[s.start : s.end] for s in spans if s.label == "MRN"}
    return _resolve(spans + _mrn_occurrences(text, mrns))


def deidentify(text: str, *, surrogate: SurrogateMap | None = None) -> DeidResult:
    """Find identifiers and replace each with a surrogate (if a SurrogateMap is given) or a [LABEL] tag."""
    spans = detect(text)
    parts: list[str] = []
    pos = 0
    for start, end, label in spans:
        parts.append(text[pos:start])
        if surrogate is None:
            parts.append(f"[{label}]")
        else:
            # A date of birth is written no finer than the policy keeps birth dates in the CDM (year, by default).
            kind = "BIRTH_DATE" if label == "DATE" and is_birth_date(text, start) else label
            parts.append(surrogate.replace(kind, text[start:end]))
        pos = end
    parts.append(text[pos:])
    return DeidResult(text="".join(parts), spans=spans)
