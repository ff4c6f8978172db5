"""The shipped gazetteer: consistency of 시/도, 시/군/구 and postcode blocks."""

from __future__ import annotations

from itertools import pairwise

from dari.kr.gazetteer import load_gazetteer
from dari.kr.phone import AREA_CODES


def test_gazetteer_every_sido_has_area_code_and_districts() -> None:
    g = load_gazetteer()
    assert len(g.sido) == 17
    for i, sido in enumerate(g.sido.tolist()):
        assert sido in AREA_CODES
        assert (g.sigungu_sido == i).any()


def test_gazetteer_postcode_blocks_inside_sido_range_and_disjoint() -> None:
    g = load_gazetteer()
    blocks = sorted(zip(g.postcode_lo.tolist(), g.postcode_hi.tolist(), strict=True))
    for (_, hi), (lo, _) in pairwise(blocks):
        assert hi < lo
    for lo, hi, s in zip(g.postcode_lo.tolist(), g.postcode_hi.tolist(), g.sigungu_sido.tolist(), strict=True):
        first, last = g.sido_postcode_prefix[s]
        assert first * 1000 <= lo <= hi < (last + 1) * 1000


def test_gazetteer_roads_end_like_roads() -> None:
    g = load_gazetteer()
    assert all(r.endswith(("로", "길", "도로")) for r in g.roads.tolist())
    assert all(d.endswith(("동", "가", "읍", "면")) for d in g.dongs.tolist())


def test_gazetteer_sido_index_accepts_short_names() -> None:
    g = load_gazetteer()
    assert g.sido_index("서울") == g.sido_index("서울특별시") == 0
