"""Exact linkage tokens: keyed HMACs of the 주민등록번호 and of name + birth date + sex, joined one-to-one.

A plain SHA-256 of an RRN is no pseudonym (the RRN space, ~10^9 plausible numbers per birth date range, is
enumerable in minutes), so every token is HMAC-SHA256 under a sub-key derived for that one purpose.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable

import pyarrow as pa

from dari.privacy.keys import derive
from dari.privacy.linkage.normalise import Records, normalise_name, records_of, rrn_digits

PAIR_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("rule", pa.string()), ("score", pa.float64())])
TOKEN_SCHEMA = pa.schema(
    [("row", pa.int64()), ("rrn_token", pa.string()), ("nbs_token", pa.string()), ("rrn_status", pa.string())]
)


def _token(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def exact_tokens_of(rec: Records, key: bytes) -> pa.Table:
    """Tokens for parsed records: HMAC(derive(key,'linkage-rrn'), digits) and HMAC(derive(key,'linkage-nbs'), n|b|s)."""
    rrn_key, nbs_key = derive(key, "linkage-rrn"), derive(key, "linkage-nbs")
    rrn_tokens: list[str | None] = []
    statuses: list[str] = []
    for value in rec.rrn:
        digits, status = rrn_digits(value)
        rrn_tokens.append(None if digits is None else _token(rrn_key, digits))
        statuses.append(status)
    nbs_tokens: list[str | None] = []
    for name, born, sex in zip(rec.name, rec.birth_date, rec.sex, strict=True):
        plain = normalise_name(name) if name else ""
        # Unit separator between fields: ('김민', '준…') and ('김', '민준…') must not collide.
        ok = plain and born is not None and sex is not None
        nbs_tokens.append(_token(nbs_key, f"{plain}\x1f{born}\x1f{sex}") if ok else None)
    return pa.table([pa.array(range(len(rec)), pa.int64()), rrn_tokens, nbs_tokens, statuses], schema=TOKEN_SCHEMA)


def exact_tokens(records: pa.Table, key: bytes) -> pa.Table:
    """Per row: rrn_token (null unless the RRN validates), nbs_token (name+birth date+sex) and rrn_status."""
    return exact_tokens_of(records_of(records), key)


def rrn_status_counts(tokens: pa.Table) -> dict[str, int]:
    """How many rows had a valid, missing or invalid 주민등록번호 (invalid ones get a null token, not an error)."""
    counts = Counter(str(s) for s in tokens.column("rrn_status").to_pylist())
    return {status: counts.get(status, 0) for status in ("valid", "missing", "invalid")}


def make_pairs(rows: list[tuple[int, int, str, float]]) -> pa.Table:
    """A pairs table (a row, b row, rule, score) from tuples."""
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pa.table([list(c) for c in columns], schema=PAIR_SCHEMA)


def rule_counts(pairs: pa.Table) -> dict[str, int]:
    """Number of links made by each rule ('rrn', 'nbs', 'clk')."""
    return dict(Counter(str(r) for r in pairs.column("rule").to_pylist()))


def _first_index(tokens: list[str | None], rows: Iterable[int]) -> dict[str, int]:
    first: dict[str, int] = {}
    for i in rows:
        t = tokens[i]
        if t is not None:
            first.setdefault(t, i)
    return first


def _unique_index(tokens: list[str | None], rows: Iterable[int]) -> dict[str, int]:
    seen = Counter(tokens[i] for i in rows if tokens[i] is not None)
    return {t: i for i in rows if (t := tokens[i]) is not None and seen[t] == 1}


def link_exact(tokens_a: pa.Table, tokens_b: pa.Table) -> pa.Table:
    """One-to-one links: equal RRN token first, then equal name+birth+sex token among rows still unlinked."""
    rrn_a, rrn_b = tokens_a.column("rrn_token").to_pylist(), tokens_b.column("rrn_token").to_pylist()
    nbs_a, nbs_b = tokens_a.column("nbs_token").to_pylist(), tokens_b.column("nbs_token").to_pylist()
    rows_a, rows_b = tokens_a.column("row").to_pylist(), tokens_b.column("row").to_pylist()
    # A person registered twice at one site keeps one link: the first row holding the token.
    first_b = _first_index(rrn_b, range(len(rrn_b)))
    links: list[tuple[int, int, str, float]] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    for t, i in _first_index(rrn_a, range(len(rrn_a))).items():
        j = first_b.get(t)
        if j is not None:
            links.append((rows_a[i], rows_b[j], "rrn", 1.0))
            used_a.add(i)
            used_b.add(j)
    # The fallback only links a name+birth+sex token that is unique on both sides (two 김민준 born the same day
    # are ambiguous) and never two rows whose valid RRNs differ: those are different people.
    free_a = [i for i in range(len(nbs_a)) if i not in used_a]
    free_b = _unique_index(nbs_b, [j for j in range(len(nbs_b)) if j not in used_b])
    for t, i in _unique_index(nbs_a, free_a).items():
        j = free_b.get(t)
        if j is None:
            continue
        if rrn_a[i] is not None and rrn_b[j] is not None:
            continue
        links.append((rows_a[i], rows_b[j], "nbs", 1.0))
    return make_pairs(links)
