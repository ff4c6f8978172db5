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
