"""Exact linkage tokens: equal across sites, keyed, robust to formatting, counting bad RRNs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pyarrow as pa

from dari.kr.rrn import rrn_check_digit
from dari.privacy.linkage import exact_tokens, link_exact, rrn_status_counts, rule_counts

KEY = bytes(range(32))
RRN = "850312-1" + "23456" + str(rrn_check_digit("850312123456"))


def _table(**columns: list[object]) -> pa.Table:
    return pa.table(columns)


def test_exact_tokens_same_person_equal_across_hospitals() -> None:
    a = _table(name=["김민준"], rrn=[RRN], birth_date=[dt.date(1985, 3, 12)], sex=["M"])
    # Hospital B writes the RRN without hyphen, a space in the name, the date as text and sex in Korean.
    b = _table(name=["김 민준"], rrn=[RRN.replace("-", "")], birth_date=["1985-03-12"], sex=["남"])
    ta, tb = exact_tokens(a, KEY), exact_tokens(b, KEY)
    assert ta.column("rrn_token").to_pylist() == tb.column("rrn_token").to_pylist()
    assert ta.column("nbs_token").to_pylist() == tb.column("nbs_token").to_pylist()
    assert ta.column("rrn_token")[0].as_py() is not None


def test_exact_tokens_other_key_differ() -> None:
    a = _table(name=["김민준"], rrn=[RRN], birth_date=[dt.date(1985, 3, 12)], sex=["M"])
    one, other = exact_tokens(a, KEY), exact_tokens(a, bytes(32))
    assert one.column("rrn_token")[0].as_py() != other.column("rrn_token")[0].as_py()
    assert one.column("nbs_token")[0].as_py() != other.column("nbs_token")[0].as_py()


def test_exact_tokens_not_plain_sha256_nor_raw_key_hmac() -> None:
    a = _table(name=["김민준"], rrn=[RRN], birth_date=[dt.date(1985, 3, 12)], sex=["M"])
    token = exact_tokens(a, KEY).column("rrn_token")[0].as_py()
    digits = RRN.replace("-", "")
    forbidden = {
        hashlib.sha256(digits.encode()).hexdigest(),
        hashlib.sha256(RRN.encode()).hexdigest(),
        hmac.new(KEY, digits.encode(), hashlib.sha256).hexdigest(),  # the raw key must not be used directly
    }
    assert token not in forbidden
    assert len(token) == 64


def test_exact_tokens_invalid_rrn_counted_not_raised() -> None:
    bad_check = RRN[:-1] + str((int(RRN[-1]) + 1) % 10)
    rrns = [RRN, None, "12345", "851312-1234567", bad_check]
    a = _table(name=["가"] * 5, rrn=rrns, birth_date=[dt.date(1985, 3, 12)] * 5, sex=["F"] * 5)
    tokens = exact_tokens(a, KEY)
    assert rrn_status_counts(tokens) == {"valid": 1, "missing": 1, "invalid": 3}
    assert tokens.column("rrn_token").null_count == 4
    assert tokens.column("nbs_token").null_count == 0


def test_link_exact_rrn_then_name_birth_sex_one_to_one() -> None:
    other = "900101-2" + "34567" + str(rrn_check_digit("900101234567"))
    a = _table(
        name=["김민준", "이서연", "박지호"],
        rrn=[RRN, other, None],
        birth_date=["1985-03-12", "1990-01-01", "1970-05-05"],
        sex=["M", "F", "M"],
    )
    b = _table(
        name=["박지호", "김민준", "김민준"],
        rrn=[None, RRN, RRN],  # the same patient registered twice at B still links once
        birth_date=["1970-05-05", "1985-03-12", "1985-03-12"],
        sex=["M", "M", "M"],
    )
    pairs = link_exact(exact_tokens(a, KEY), exact_tokens(b, KEY))
    got = sorted(zip(pairs.column("a").to_pylist(), pairs.column("b").to_pylist(), strict=True))
    assert got == [(0, 1), (2, 0)]
    assert rule_counts(pairs) == {"rrn": 1, "nbs": 1}


def test_link_exact_conflicting_rrns_not_linked_by_name() -> None:
    other = "850312-1" + "65432" + str(rrn_check_digit("850312165432"))
    a = _table(name=["김민준"], rrn=[RRN], birth_date=["1985-03-12"], sex=["M"])
    b = _table(name=["김민준"], rrn=[other], birth_date=["1985-03-12"], sex=["M"])
    assert link_exact(exact_tokens(a, KEY), exact_tokens(b, KEY)).num_rows == 0
