"""Synthetic patient identities: formats, consistency between fields, uniqueness, determinism."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dari.errors import InputError
from dari.kr.gazetteer import load_gazetteer
from dari.kr.phone import AREA_CODES, parse_phone
from dari.kr.rrn import is_valid_rrn, parse_rrn
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, IDENTITY_COLUMNS, generate_identities, generate_mrns


def _make(n: int, seed: int = 5, site: str = "seoul_tertiary", code: str = "HB") -> pa.Table:
    rng = np.random.default_rng(seed)
    births = np.datetime64("1920-01-01") + rng.integers(0, 37_000, n).astype("timedelta64[D]")
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    return generate_identities(
        n, rng, region_weights=HOSPITAL_REGION_WEIGHTS[site], birth_dates=births, sex=sex, hospital_code=code
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _make(20_000)


def test_identity_columns_present(table: pa.Table) -> None:
    assert tuple(table.column_names) == IDENTITY_COLUMNS
    assert table.num_rows == 20_000


def test_identity_deterministic_for_seed() -> None:
    assert _make(500, seed=3).equals(_make(500, seed=3))
    assert not _make(500, seed=3).equals(_make(500, seed=4))


def test_identity_mrns_unique_eight_digits_with_site_prefix(table: pa.Table) -> None:
    mrns = table["patient_no"].to_pylist()
    assert len(set(mrns)) == len(mrns)
    assert all(len(m) == 8 and m.isdigit() for m in mrns)
    assert len({m[0] for m in mrns}) == 1


def test_generate_mrns_unique_at_one_million() -> None:
    mrns = generate_mrns(1_000_000, "BD", np.random.default_rng(0))
    assert np.unique(mrns).size == 1_000_000


def test_identity_rrn_matches_birth_date_and_sex(table: pa.Table) -> None:
    for rrn, born, sex in zip(
        table["rrn"].to_pylist(), table["birth_date"].to_pylist(), table["sex"].to_pylist(), strict=True
    ):
        parsed = parse_rrn(rrn)
        assert (parsed.birth_date, parsed.sex) == (born, sex)
        assert parsed.check_digit_valid == (born.isoformat() < "2020-10-01")
        assert is_valid_rrn(rrn)


def test_identity_missing_rates(table: pa.Table) -> None:
    n = table.num_rows
    assert 0.015 < table["phone_mobile"].null_count / n < 0.045
    assert 0.37 < table["phone_home"].null_count / n < 0.43
    assert 0.18 < 1 - table["email"].null_count / n < 0.22


def test_identity_home_phone_area_code_matches_region(table: pa.Table) -> None:
    for phone, sido in zip(table["phone_home"].to_pylist(), table["sido"].to_pylist(), strict=True):
        if phone is not None:
            assert phone.split("-")[0] == AREA_CODES[sido]
            assert parse_phone(phone).region == sido


def test_identity_addresses_consistent_with_sido_sigungu_and_postcode(table: pa.Table) -> None:
    g = load_gazetteer()
    prefix = {s: g.sido_postcode_prefix[i] for i, s in enumerate(g.sido.tolist())}
    rows = zip(
        table["road_address"].to_pylist(),
        table["lot_address"].to_pylist(),
        table["postcode"].to_pylist(),
        table["sido"].to_pylist(),
        table["sigungu"].to_pylist(),
        strict=True,
    )
    for road, lot, postcode, sido, sigungu in rows:
        head = f"{sido} {sigungu} " if sigungu else f"{sido} "
        assert road.startswith(head) and lot.startswith(head)
        street = road[len(head) :].split(" ")[0]
        assert street.endswith(("로", "길"))
        assert len(postcode) == 5 and postcode.isdigit()
        lo, hi = prefix[sido]
        assert lo <= int(postcode[:2]) <= hi


def test_identity_region_weights_follow_hospital(table: pa.Table) -> None:
    sido = np.array(table["sido"].to_pylist())
    assert 0.50 < np.mean(sido == "서울특별시") < 0.60
    busan = np.array(_make(5000, site="busan_regional")["sido"].to_pylist())
    assert np.mean(np.isin(busan, ["부산광역시", "울산광역시", "경상남도"])) > 0.9


def test_identity_names_and_emails_formats(table: pa.Table) -> None:
    for ko, en, email in zip(
        table["name_ko"].to_pylist()[:2000],
        table["name_en"].to_pylist(),
        table["email"].to_pylist(),
        strict=False,
    ):
        assert 2 <= len(ko) <= 4
        _, given_en = en.split(" ")
        assert en.isupper() and given_en.isalpha()
        if email is not None:
            local, domain = email.split("@")
            assert given_en.lower() in local and "." in domain


def test_identity_everything_encodes_to_cp949(table: pa.Table) -> None:
    for name in table.column_names:
        if pa.types.is_string(table[name].type):
            for value in table[name].to_pylist():
                if value is not None:
                    value.encode("cp949")


def test_identity_rejects_length_mismatch() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError):
        generate_identities(
            3,
            rng,
            region_weights={"서울": 1},
            birth_dates=np.array(["2000-01-01"], "datetime64[D]"),
            sex=np.array(["M"]),
            hospital_code="X",
        )


def test_identity_unknown_region_raises() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError):
        generate_identities(
            1,
            rng,
            region_weights={"Atlantis": 1},
            birth_dates=np.array(["2000-01-01"], "datetime64[D]"),
            sex=np.array(["M"]),
            hospital_code="X",
        )
