"""Invariants of the synthetic hospital network: determinism, site differences, clinical plausibility."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dari.kr.rrn import is_valid_rrn, parse_rrn
from dari.synth.labs import ckd_epi_2021, creatinine_for_egfr
from dari.synth.network import generate_site
from dari.synth.population import draw_population
from dari.synth.sites import DEFAULT_SITES, network_profiles

N = 600


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("net")
    for profile in DEFAULT_SITES:
        generate_site(profile, out / profile.site_id, N, seed=7, chunk_size=250)
    return {p.site_id: out / p.site_id for p in DEFAULT_SITES}


def _rows(path: Path, encoding: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode(encoding))))


def test_generate_site_same_seed_same_bytes(tmp_path: Path, sites: dict[str, Path]) -> None:
    # Prepare
    profile = DEFAULT_SITES[1]
    # Execute
    generate_site(profile, tmp_path / "again", N, seed=7, chunk_size=250)
    # Assert
    assert _digest(tmp_path / "again" / "extract") == _digest(sites["site-2"] / "extract")


def test_generate_site_other_seed_other_data(tmp_path: Path, sites: dict[str, Path]) -> None:
    generate_site(DEFAULT_SITES[1], tmp_path / "other", N, seed=8, chunk_size=250)
    assert (
        _digest(tmp_path / "other" / "extract")["patients.csv"] != _digest(sites["site-2"] / "extract")["patients.csv"]
    )


def test_extract_encodings_differ_by_site(sites: dict[str, Path]) -> None:
    site1 = (sites["site-1"] / "extract" / "patients.csv").read_bytes()
    site2 = (sites["site-2"] / "extract" / "patients.csv").read_bytes()
    site3 = (sites["site-3"] / "extract" / "patients.csv").read_bytes()
    assert site1.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        site2.decode("utf-8")
    assert "남" in site2.decode("cp949")
    assert not site3.startswith(b"\xef\xbb\xbf")
    site3.decode("utf-8")


def test_patients_have_unique_numbers_and_valid_rrns(sites: dict[str, Path]) -> None:
    rows = _rows(sites["site-1"] / "extract" / "patients.csv", "utf-8-sig")
    assert len({r["patient_no"] for r in rows}) == N
    for r in rows:
        parsed = parse_rrn(r["rrn"])
        assert parsed.birth_date.isoformat() == r["birth_date"]
        born_after_reform = r["birth_date"] >= "2020-10-01"
        assert is_valid_rrn(r["rrn"], allow_post_2020=False) != born_after_reform


def test_sites_differ_in_coding_habits_and_units(sites: dict[str, Path]) -> None:
    dx2 = _rows(sites["site-2"] / "extract" / "diagnoses.csv", "cp949")
    dx3 = _rows(sites["site-3"] / "extract" / "diagnoses.csv", "utf-8")
    labs2 = _rows(sites["site-2"] / "extract" / "lab_codes.csv", "cp949")
    assert all("." not in r["kcd_code"] for r in dx2)
    assert sum(len(r["kcd_code"]) == 3 for r in dx3) / len(dx3) > 0.3
    assert {r["unit"] for r in labs2 if r["loinc"] == "14682-9"} == {"umol/L"}


def test_notes_quote_identifiers(sites: dict[str, Path]) -> None:
    patients = {r["patient_no"]: r for r in _rows(sites["site-1"] / "extract" / "patients.csv", "utf-8-sig")}
    notes = _rows(sites["site-1"] / "extract" / "clinical_notes.csv", "utf-8-sig")
    assert notes
    quoting = sum(patients[n["patient_no"]]["name"] in n["note_text"] for n in notes)
    assert quoting / len(notes) > 0.3


def test_population_comorbidity_correlates() -> None:
    # Prepare
    pop = draw_population(40_000, DEFAULT_SITES[0], np.random.default_rng(3))
    adults = pop.age_at_end >= 40
    dm, htn = pop.condition("t2dm")[adults], pop.condition("hypertension")[adults]
    # Execute
    p_htn_given_dm, p_htn_given_no_dm = htn[dm].mean(), htn[~dm].mean()
    # Assert: diabetes and hypertension co-occur more than by chance; prevalences plausible
    assert p_htn_given_dm > p_htn_given_no_dm * 1.2
    assert 0.05 < dm.mean() < 0.4
    assert pop.condition("breast_cancer")[~pop.female].sum() == 0


def test_network_profiles_extend_beyond_three() -> None:
    profiles = network_profiles(5)
    assert [p.site_id for p in profiles] == ["site-1", "site-2", "site-3", "site-4", "site-5"]
    assert len({p.hospital_code for p in profiles}) == 5
    with pytest.raises(ValueError, match="at least 1"):
        network_profiles(0)


@given(
    egfr=st.floats(min_value=4, max_value=140),
    age=st.floats(min_value=18, max_value=100),
    female=st.booleans(),
)
def test_creatinine_for_egfr_inverts_ckd_epi_2021(egfr: float, age: float, female: bool) -> None:
    scr = creatinine_for_egfr(np.array([egfr]), np.array([age]), np.array([female]))
    back = ckd_epi_2021(scr, np.array([age]), np.array([female]))
    assert back[0] == pytest.approx(egfr, rel=1e-9)


def test_ckd_epi_2021_hand_worked_value() -> None:
    # 60-year-old man, Scr 1.0 mg/dL: 142 · 0.9^1.2 · 0.9938^60 = 142 · 0.8812 · 0.6886 = 86.2
    value = ckd_epi_2021(np.array([1.0]), np.array([60.0]), np.array([False]))[0]
    assert value == pytest.approx(86.2, abs=0.1)


def test_generate_network_same_result_with_or_without_workers(tmp_path: Path) -> None:
    # Prepare
    from dari.synth.network import generate_network

    # Execute
    serial = generate_network(tmp_path / "serial", sites=2, patients_per_site=200, seed=5, workers=1)
    parallel = generate_network(tmp_path / "parallel", sites=2, patients_per_site=200, seed=5, workers=2)
    # Assert
    for a, b in zip(serial, parallel, strict=True):
        assert _digest(a.folder / "extract") == _digest(b.folder / "extract")
        assert a.etl is not None and b.etl is not None
        assert a.etl.cdm_rows == b.etl.cdm_rows
