"""Keyed derivations: valid UIDs, stable per key, different across keys; date shifts keep intervals."""

from __future__ import annotations

import re
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dari.privacy.dicom import keyed

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
KEY = b"k" * 32


@given(st.text(min_size=1, max_size=64))
def test_remapped_uids_are_valid_and_stable(uid: str) -> None:
    new = keyed.remap_uid(KEY, uid)
    assert new.startswith("2.25.") and len(new) <= 64 and UID_RE.match(new)
    assert keyed.remap_uid(KEY, uid) == new
    assert keyed.remap_uid(b"other key", uid) != new


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 1, 1)), st.integers(0, 20000), st.text(max_size=20))
def test_date_shift_keeps_intervals(day: date, gap: int, patient: str) -> None:
    offset = keyed.day_offset(KEY, patient)
    assert -keyed.MAX_SHIFT_DAYS <= offset <= -1
    later = day + timedelta(days=gap)
    a, b = keyed.shift_da(day.strftime("%Y%m%d"), offset), keyed.shift_da(later.strftime("%Y%m%d"), offset)
    assert a is not None and b is not None
    parse = lambda s: date(int(s[:4]), int(s[4:6]), int(s[6:]))  # noqa: E731
    assert (parse(b) - parse(a)).days == gap


def test_datetime_keeps_time_and_offset_and_bad_dates_are_refused() -> None:
    assert keyed.shift_dt("20040119072730.123+0900", -1) == "20040118072730.123+0900"
    assert keyed.shift_da("1997.04.24", -1) == "19970423"
    assert keyed.shift_da("2004", -1) is None
    assert keyed.shift_da("20041399", -1) is None
    assert keyed.shift_dt("2004", -1) is None


def test_pseudonym_is_keyed_and_prefixed() -> None:
    p = keyed.pseudonym(KEY, "1CT1")
    assert re.fullmatch(r"DARI-[0-9A-F]{20}", p)
    assert keyed.pseudonym(b"other", "1CT1") != p
    assert keyed.pseudonym(KEY, "1CT1", "SITE7").startswith("SITE7-")
