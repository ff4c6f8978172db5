"""Bloom-filter CLKs: Dice on hand-worked filters, jamo-level tolerance, romanisation variants, keying."""

from __future__ import annotations

import datetime as dt
import unicodedata

import numpy as np
import pyarrow as pa

from dari.privacy.linkage import ClkParams, dice, dice_matrix, encode_clks, qgrams
from dari.privacy.linkage.clk import packed_of
from dari.privacy.linkage.match import DEFAULT_THRESHOLD
from dari.privacy.linkage.normalise import canonical_roman, jamo

KEY = bytes(range(32))


def _clk(name: str, born: dt.date, sex: str, name_en: str = "", sigungu: str = "강남구") -> np.ndarray:
    table = pa.table(
        {"name": [name], "rrn": [None], "birth_date": [born], "sex": [sex], "name_en": [name_en or None],
         "sigungu": [sigungu]}
    )  # fmt: skip
    return packed_of(encode_clks(table, KEY))[0]


def test_dice_hand_worked_filters() -> None:
    x = np.array([0b11110000], dtype=np.uint8)  # |x| = 4
    y = np.array([0b11001100], dtype=np.uint8)  # |y| = 4, |x ∧ y| = 2
    z = np.array([0b00000011], dtype=np.uint8)  # disjoint from x
    assert dice(x, y) == 2 * 2 / (4 + 4)
    assert dice(x, x) == 1.0
    assert dice(x, z) == 0.0
    assert dice(np.zeros(1, np.uint8), np.zeros(1, np.uint8)) == 0.0


def test_dice_matrix_equals_pairwise_dice() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (5, 128), dtype=np.uint8)
    b = rng.integers(0, 256, (7, 128), dtype=np.uint8)
    m = dice_matrix(a, b)
    expected = np.array([[dice(a[i], b[j]) for j in range(7)] for i in range(5)])
    np.testing.assert_allclose(m, expected, rtol=1e-6)


def test_qgrams_padded_bigrams() -> None:
    assert qgrams("LEE") == ["^L", "LE", "EE", "E$"]
    assert qgrams("") == []


def test_jamo_decomposes_hangul() -> None:
    assert jamo("김 민준") == unicodedata.normalize("NFD", "김민준")
    assert len(jamo("김민준")) == 9


def test_canonical_roman_surname_and_given_variants() -> None:
    assert canonical_roman("YI MIN-JUN") == canonical_roman("Lee Minjun") == "LEE MINJUN"
    assert canonical_roman("BAK SEOYEON") == canonical_roman("PARK SEO YEON")
    assert canonical_roman("RHEE YOUNGHO") == canonical_roman("LEE YEONGHO")


def test_clk_one_jamo_typo_keeps_dice_high_strangers_low() -> None:
    born = dt.date(1985, 3, 12)
    original = _clk("김민준", born, "M", "KIM MINJUN")
    typo = _clk("김민존", born, "M", "KIM MINJUN")  # ㅜ → ㅗ in the last syllable
    # The hardest stranger: same surname, birth date, sex and 구, another given name. Below the link threshold.
    namesake = _clk("김재훈", born, "M", "GIM JAEHUN")
    stranger = _clk("박서연", dt.date(1992, 7, 30), "F", "PARK SEOYEON", "해운대구")
    assert dice(original, typo) > 0.8
    assert dice(original, namesake) < DEFAULT_THRESHOLD < dice(original, typo)
    assert dice(original, stranger) < 0.4


def test_clk_jamo_beats_syllable_grams_for_one_jamo_typo() -> None:
    # With only the Korean-name field, a one-jamo typo keeps most jamo bigrams but loses two of four syllable ones.
    only_name = ClkParams(k={"name_ko": 10, "name_en": 0, "birth": 0, "sex": 0, "sigungu": 0})
    table = pa.table({"name": ["김민준", "김민존"], "rrn": [None, None], "birth_date": [None, None], "sex": ["M", "M"]})
    packed = packed_of(encode_clks(table, KEY, only_name))
    syllable = len(set(qgrams("김민준")) & set(qgrams("김민존"))) * 2 / 8
    assert dice(packed[0], packed[1]) > syllable + 0.2


def test_encode_clks_other_key_differs() -> None:
    table = pa.table({"name": ["김민준"], "rrn": [None], "birth_date": ["1985-03-12"], "sex": ["M"]})
    one, other = packed_of(encode_clks(table, KEY)), packed_of(encode_clks(table, bytes(32)))
    assert dice(one[0], other[0]) < 0.6
    assert one.shape == (1, 128)
