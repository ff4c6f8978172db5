"""Surrogates: realistic, consistent under one secret, different under another, offsets unchanged."""

from __future__ import annotations

import re

from dari.kr.phone import parse_phone
from dari.kr.rrn import parse_rrn
from dari.privacy.text import SurrogateMap, deidentify
from dari.privacy.text.deid import detect

NOTE = (
    "환자명: 홍길동    주민등록번호: 850101-1234568\n연락처 010-1234-5678, hong.gd@naver.com\n"
    "주소: 서울특별시 종로구 대학로 101, 101동 1203호\n2023-05-01 입원, 2023-05-11 퇴원. 홍길동님 귀가함.\n"
    "Attending: Dr. Park Minsu"
)


def test_surrogate_same_value_same_replacement() -> None:
    result = deidentify(NOTE, surrogate=SurrogateMap("secret-1"))
    assert "홍길동" not in result.text
    names = re.findall(r"환자명: (\S+)", result.text)[0]
    assert result.text.count(names) >= 2


def test_surrogate_same_secret_reruns_agree() -> None:
    first = deidentify(NOTE, surrogate=SurrogateMap("secret-1")).text
    second = deidentify(NOTE, surrogate=SurrogateMap("secret-1")).text
    other = deidentify(NOTE, surrogate=SurrogateMap("secret-2")).text
    assert first == second
    assert first != other


def test_surrogate_map_consistent_across_documents() -> None:
    shared = SurrogateMap("patient-set")
    a = deidentify("환자 김철수님 내원", surrogate=shared).text
    b = deidentify("보호자: 김철수", surrogate=shared).text
    assert a.split()[1].removesuffix("님") == b.split()[1]


def test_surrogate_values_are_valid_of_their_type() -> None:
    result = deidentify(NOTE, surrogate=SurrogateMap("secret-1"))
    rrn = re.search(r"\d{6}-\d{7}", result.text)
    phone = re.search(r"010-\d{4}-\d{4}", result.text)
    assert rrn is not None and parse_rrn(rrn.group(0)).check_digit_valid
    assert rrn.group(0) != "850101-1234568"
    assert phone is not None and parse_phone(phone.group(0)).kind == "mobile"
    assert phone.group(0) != "010-1234-5678"
    # the domain is drawn too: a hospital's or a school's domain would say where the person works or studies
    email = re.search(r"[a-z.]+\d+@([a-z.]+)", result.text)
    assert email is not None and email.group(1) in {
        "naver.com",
        "gmail.com",
        "daum.net",
        "hanmail.net",
        "kakao.com",
        "nate.com",
        "hotmail.com",
    }


def test_surrogate_dates_keep_interval() -> None:
    result = deidentify(NOTE, surrogate=SurrogateMap("secret-1"))
    days = re.findall(r"(\d{4})-(\d{2})-(\d{2}) ", result.text)
    import datetime as dt

    first, second = (dt.date(int(y), int(m), int(d)) for y, m, d in days)
    assert (second - first).days == 10
    assert first != dt.date(2023, 5, 1)


def test_surrogate_spans_still_refer_to_input() -> None:
    result = deidentify(NOTE, surrogate=SurrogateMap("secret-1"))
    assert result.spans == detect(NOTE)
    assert NOTE[result.spans[0].start : result.spans[0].end] == "홍길동"


def test_mask_mode_tags_every_span() -> None:
    result = deidentify(NOTE)
    assert result.text.count("[PERSON]") == 3
    assert "[RRN]" in result.text and "[ADDRESS]" in result.text and "[EMAIL]" in result.text


def test_surrogate_rrn_birth_part_is_drawn_not_derived() -> None:
    # Prepare: the same real number in 300 persons' notes
    base = SurrogateMap(b"k" * 32)
    real = "570302-2345671"
    # Execute
    fronts = [base.for_person(f"P{i}", 17).replace("RRN", real)[:6] for i in range(300)]
    masked = base.for_person("P0", 17).replace("RRN", "570302-2******")
    # Assert: never the real birth date, never the shifted one, spread over decades
    assert "570302" not in fronts and "570319" not in fronts
    assert len({f[:2] for f in fronts}) >= 40
    assert all(parse_rrn(base.for_person(f"P{i}", 0).replace("RRN", real)).check_digit_valid for i in range(20))
    assert re.fullmatch(r"\d{6}-[1-4]\*{6}", masked) and not masked.startswith("570302")


def test_surrogate_phone_keeps_kind_and_form_not_digits() -> None:
    m = SurrogateMap(b"k" * 32).for_person("P1", 3)
    landline = m.replace("PHONE", "02-123-4567")
    international = m.replace("PHONE", "+82-10-9876-5432")
    assert parse_phone(landline).kind == "landline" and "123-4567" not in landline
    assert re.fullmatch(r"\+82-10-\d{4}-\d{4}", international) and "9876" not in international
    assert parse_phone(m.replace("PHONE", "01098765432")).kind == "mobile"


def test_surrogate_same_value_consistent_within_a_person_unrelated_across_persons() -> None:
    base = SurrogateMap(b"k" * 32)
    a, b = base.for_person("P1", 3), base.for_person("P2", 3)
    assert a.replace("PERSON", "김철수") == a.replace("PERSON", "김철수")
    assert a.replace("PHONE", "010-1111-2222") != b.replace("PHONE", "010-1111-2222")
    # the n-th identifier of a person gets the n-th draw, whatever its value: no function of the real value
    assert a.replace("MRN", "12345678") == base.for_person("P1", 3).replace("MRN", "87654321")


def test_surrogate_ages_over_89_become_90_plus() -> None:
    text = deidentify("93세 여자, a 95-year-old, 72세 보호자", surrogate=SurrogateMap("s")).text
    assert text == "90+세 여자, a 90+-year-old, 72세 보호자"
