"""Cryptographic long-term keys (CLKs): Bloom-filter encodings of identities for fuzzy linkage.

Schnell, Bachteler & Reiher (2009), "Privacy-preserving record linkage using Bloom filters", BMC Med Inform
Decis Mak 9:41; one filter per record for all fields with per-field k as the field weight is the CLK of
Schnell, Bachteler & Reiher (2011). The maintained implementations (clkhash + anonlink) cannot be used here:
clkhash 0.17 imports pkg_resources, which current setuptools no longer ships, and clkhash 0.18.3 pins
cryptography < 41. The encoding below follows the same scheme (q-grams, keyed double hashing, Dice) and its
parameters are documented in docs/record-linkage.md; it is not bit-compatible with clkhash schemas.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dari.privacy.keys import derive
from dari.privacy.linkage.normalise import Records, canonical_roman, jamo, normalise_name, records_of, roman_of

Packed = npt.NDArray[np.uint8]

# Hash positions per gram of each field: the field's weight (Schnell 2011). Names carry most of the evidence; a
# moved address should cost little. Tuned on make_linkage_benchmark (see docs/record-linkage.md).
DEFAULT_K: dict[str, int] = {"name_ko": 12, "name_en": 8, "birth": 20, "sex": 20, "sigungu": 6}


@dataclass(frozen=True)
class ClkParams:
    """Filter length in bits (a multiple of 8), q of the q-grams and hash positions per gram per field."""

    size: int = 1024
    q: int = 2
    k: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_K))


def qgrams(text: str, q: int = 2) -> list[str]:
    """Padded q-grams ('^김', …, '준$' for q=2): padding lets the first and last symbol count like the rest."""
    if not text:
        return []
    padded = f"^{text}$"
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


def birth_grams(born: dt.date | None) -> list[str]:
    """Year, month, day, the unordered month/day pair and the whole date, so a day/month swap keeps two of five."""
    if born is None:
        return []
    m, d = f"{born.month:02d}", f"{born.day:02d}"
    return [f"Y{born.year}", f"M{m}", f"D{d}", f"P{min(m, d)}{max(m, d)}", f"F{born.isoformat()}"]


def field_grams(rec: Records, i: int, q: int = 2) -> dict[str, list[str]]:
    """The q-grams of record i per field: name as jamo, canonical romanised name, birth date, sex, 시/군/구."""
    name = rec.name[i] or ""
    name_en = rec.name_en[i] or (roman_of(name) if name else "")
    sex = rec.sex[i]
    return {
        "name_ko": qgrams(jamo(name), q),
        "name_en": qgrams(canonical_roman(name_en), q),
        "birth": birth_grams(rec.birth_date[i]),
        "sex": [sex] if sex else [],
        "sigungu": qgrams(normalise_name(rec.sigungu[i] or ""), q),
    }


class _Hasher:
    """Keyed double hashing g_i = h1 + i·h2 mod m (Kirsch & Mitzenmacher 2006), h1, h2 from one HMAC-SHA256."""

    def __init__(self, key: bytes, params: ClkParams) -> None:
        self.key = derive(key, "linkage-clk")
        self.params = params
        self.cache: dict[tuple[str, str], npt.NDArray[np.int64]] = {}

    def positions(self, name: str, gram: str) -> npt.NDArray[np.int64]:
        hit = self.cache.get((name, gram))
        if hit is None:
            # The field name is hashed with the gram, so 'M01' as a month and as anything else set different bits.
            digest = hmac.new(self.key, f"{name}\x1f{gram}".encode(), hashlib.sha256).digest()
            h1, h2 = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big") | 1
            k, m = self.params.k[name], self.params.size
            hit = np.array([(h1 + i * h2) % m for i in range(k)], dtype=np.int64)
            self.cache[(name, gram)] = hit
        return hit


def encode_packed(rec: Records, key: bytes, params: ClkParams | None = None) -> Packed:
    """CLKs as an (n, size/8) uint8 matrix: every gram of every field sets k[field] keyed positions."""
    p = params or ClkParams()
    if p.size % 8:
        raise ValueError("CLK size must be a multiple of 8 bits")
    hasher = _Hasher(key, p)
    chunks: list[npt.NDArray[np.int64]] = []
    counts = np.zeros(len(rec), dtype=np.int64)
    for i in range(len(rec)):
        for name, grams in field_grams(rec, i, p.q).items():
            if p.k.get(name, 0):
                for g in grams:
                    chunks.append(hasher.positions(name, g))
                    counts[i] += p.k[name]
    # One scatter for all records: per-record numpy calls would dominate the cost.
    bits = np.zeros((len(rec), p.size), dtype=np.bool_)
    if chunks:
        bits[np.repeat(np.arange(len(rec)), counts), np.concatenate(chunks)] = True
    packed: Packed = np.packbits(bits, axis=1)
    return packed


def block_tokens(rec: Records, key: bytes) -> tuple[list[str], list[list[str]]]:
    """Keyed birth-year block per row, and the window of years y-1..y+1 it should be compared with."""
    block_key = derive(key, "linkage-block")

    @cache
    def tok(label: str) -> str:
        return hmac.new(block_key, label.encode(), hashlib.sha256).hexdigest()[:16]

    blocks: list[str] = []
    windows: list[list[str]] = []
    for born in rec.birth_date:
        # ±1 year so a ±1-day error across New Year still meets; unknown years only meet each other.
        years = [None] if born is None else [born.year - 1, born.year, born.year + 1]
        labels = [tok(f"year:{y}") for y in years]
        blocks.append(labels[len(labels) // 2])
        windows.append(labels)
    return blocks, windows


def encode_clks_of(rec: Records, key: bytes, params: ClkParams | None = None) -> pa.Table:
    """Row, CLK (fixed-size binary), keyed birth-year block and block window for parsed records."""
    packed = encode_packed(rec, key, params)
    blocks, windows = block_tokens(rec, key)
    clk = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(packed.shape[1]), len(rec), [None, pa.py_buffer(packed.tobytes())]
    )
    return pa.table(
        {
            "row": pa.array(range(len(rec)), pa.int64()),
            "clk": clk,
            "block": pa.array(blocks, pa.string()),
            "block_window": pa.array(windows, pa.list_(pa.string())),
        }
    )


def encode_clks(records: pa.Table, key: bytes, params: ClkParams | None = None) -> pa.Table:
    """CLKs of an identity table (name/name_ko, birth_date, sex, optional name_en, sigungu) under derived sub-keys."""
    return encode_clks_of(records_of(records), key, params)


def packed_of(clks: pa.Table) -> Packed:
    """The CLK column as an (n, bytes) uint8 matrix."""
    column = clks.column("clk").combine_chunks()
    width = column.type.byte_width
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=len(column) * width, offset=column.offset * width)
    packed: Packed = data.reshape(len(column), width)
    return packed


def dice(x: Packed, y: Packed) -> float:
    """Dice coefficient 2|x∧y| / (|x| + |y|) of two packed filters (0 when both are empty)."""
    total = int(np.bitwise_count(x).sum()) + int(np.bitwise_count(y).sum())
    return 2.0 * int(np.bitwise_count(x & y).sum()) / total if total else 0.0


def dice_matrix(a: Packed, b: Packed) -> npt.NDArray[np.float32]:
    """All-pairs Dice 2|a_i ∧ b_j| / (|a_i| + |b_j|) by AND + popcount on 64-bit words, in row chunks."""
    wa, wb = _words(a), _words(b)
    card_a, card_b = np.bitwise_count(wa).sum(axis=1), np.bitwise_count(wb).sum(axis=1)
    common = np.empty((wa.shape[0], wb.shape[0]), dtype=np.float32)
    # Popcount beats a 0/1 float32 matmul ~10x here (see docs) and needs no BLAS; chunks cap the temporary at ~32 MB.
    step = max(1, (32 << 20) // max(1, wb.shape[0] * wb.shape[1] * 8))
    for start in range(0, wa.shape[0], step):
        block = wa[start : start + step, None, :] & wb[None, :, :]
        common[start : start + step] = np.bitwise_count(block).sum(axis=2, dtype=np.int32)
    total = (card_a[:, None] + card_b[None, :]).astype(np.float32)
    result: npt.NDArray[np.float32] = np.divide(2.0 * common, total, out=np.zeros_like(common), where=total > 0)
    return result


def _words(packed: Packed) -> npt.NDArray[np.uint64]:
    """Packed filters viewed as 64-bit words (zero-padded to a multiple of 8 bytes)."""
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    words: npt.NDArray[np.uint64] = np.ascontiguousarray(packed).view(np.uint64)
    return words
