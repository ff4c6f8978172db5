"""Each identifier type in Korean, English and mixed sentences; words that must stay untouched."""

from __future__ import annotations

import pytest

from dari.privacy.text import deidentify
from dari.privacy.text.deid import detect


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], label) for s, e, label in detect(text)]


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("환자 홍길동님 오늘 외래 내원함.", "홍길동", "PERSON"),
        ("보호자 김영희 씨에게 설명함.", "김영희", "PERSON"),
        ("담당의: 박지성 교수", "박지성", "PERSON"),
        ("정민호 교수님께 협진 의뢰함.", "정민호", "PERSON"),
        ("남궁민수 환자는 퇴원함.", "남궁민수", "PERSON"),
        ("성명: 문진", "문진", "PERSON"),
        ("주민등록번호 850101-1234568 확인함", "850101-1234568", "RRN"),
        ("주민번호 8501011234568", "8501011234568", "RRN"),
        ("주민등록번호: 850101-1******", "850101-1******", "RRN"),
        ("RRN 210315-3917264 (issued after 2020)", "210315-3917264", "RRN"),
        ("연락처 010-1234-5678로 연락 바람", "010-1234-5678", "PHONE"),
        ("자택 (031) 234-5678", "(031) 234-5678", "PHONE"),
        ("보호자 연락처 02-745-1234", "02-745-1234", "PHONE"),
        ("Call +82 10 9876 5432 after 6pm", "+82 10 9876 5432", "PHONE"),
        ("이메일 hong.gd@naver.com 으로 결과 발송", "hong.gd@naver.com", "EMAIL"),
        (
            "주소: 부산광역시 해운대구 해운대로 570, 101동 1203호",
            "부산광역시 해운대구 해운대로 570, 101동 1203호",
            "ADDRESS",
        ),
        ("서울 강남구 역삼동 823-1 거주", "서울 강남구 역삼동 823-1", "ADDRESS"),
        ("lives at 12 Teheran-ro, Gangnam-gu, Seoul.", "12 Teheran-ro, Gangnam-gu, Seoul", "ADDRESS"),
        ("등록번호: 12345678 환자 전원 예정", "12345678", "MRN"),
        ("MRN 00482913, admitted via ER", "00482913", "MRN"),
        ("2023-05-01 입원", "2023-05-01", "DATE"),
        ("2023.5.1 시행한 CT", "2023.5.1", "DATE"),
        ("2023년 5월 1일 수술 예정", "2023년 5월 1일", "DATE"),
        ("admitted on 05/01/2023 for dyspnea", "05/01/2023", "DATE"),
        ("5/1 외래 f/u 예정", "5/1", "DATE"),
        ("seen on May 3, 2022 in clinic", "May 3, 2022", "DATE"),
        ("92세 여자 환자로 낙상 후 내원", "92세", "AGE"),
        ("A 95-year-old man with CHF", "95-year-old", "AGE"),
        ("Patient: Kim Minji, MRN 12345678", "Kim Minji", "PERSON"),
        ("Attending: Dr. John Smith", "John Smith", "PERSON"),
        ("Discussed with Mrs. Park today.", "Park", "PERSON"),
        ("Pt. 이서연 (80212150) / 2023.5.1", "이서연", "PERSON"),
        ("Pt. 이서연 (80212150) / 2023.5.1", "80212150", "MRN"),
    ],
)
def test_detect_finds_identifier_in_sentence(text: str, value: str, label: str) -> None:
    assert (value, label) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "신장 기능 정상 범위, 특이 이상 소견 없음.",
        "고혈압 조절 양호, 조영제 사용 CT 시행함.",
        "임상적으로 안정적이며 전신 상태 양호. 경부 강직 없음.",
        "환자 이송 후 활력징후 안정적임.",
        "No history of Parkinson disease or Alzheimer dementia; Cushing syndrome ruled out.",
        "BP 130/80 mmHg, WBC 12.5, Cr 1.2, HbA1c 7.1%",
        "65세 남자 환자, 55-year-old woman",
        "선생님께 보고함. 신장내과 협진 의뢰.",
        "정상 소견이며 이상 없음. 전원 예정 없음.",
        "서울 거주, 14:30 투약",
    ],
)
def test_detect_tricky_text_not_tagged(text: str) -> None:
    assert found(text) == []


def test_detect_mixed_note_all_labels() -> None:
    text = (
        "Pt. 최민준 (등록번호 23456789) / 2024.3.2\n92세 남자 환자로 DM 있으며 f/u 위해 내원함. BP 130/80.\n"
        "연락처 010-2345-6789, e-mail mj.choi@gmail.com, 주소 대전광역시 유성구 대학로 99\n"
        "RRN 320101-1234560. Attending: Dr. Lee Jiho"
    )
    labels = {label for _, label in found(text)}
    assert labels == {"PERSON", "MRN", "DATE", "AGE", "PHONE", "EMAIL", "ADDRESS", "RRN"}


def test_detect_invalid_numbers_not_tagged() -> None:
    # Impossible birth date (month 13), unknown phone prefix, and a 13-digit run failing the checksum.
    text = "번호 851301-1234567, 099-1234-5678, 8501011234567"
    assert found(text) == []


def test_deidentify_spans_refer_to_input() -> None:
    text = "환자 홍길동님 (92세) 2023-05-01 입원, 연락처 010-1234-5678"
    result = deidentify(text)
    assert [text[s:e] for s, e, _ in result.spans] == ["홍길동", "92세", "2023-05-01", "010-1234-5678"]
    assert result.text == "환자 [PERSON]님 ([AGE]) [DATE] 입원, 연락처 [PHONE]"


def test_deidentify_name_propagates_to_every_mention() -> None:
    text = "환자명: 이순분\n본인 확인함. 이순분 님 서명함. 이순분은 귀가함."
    spans = [text[s:e] for s, e, label in detect(text) if label == "PERSON"]
    assert spans == ["이순분", "이순분", "이순분"]


def test_name_spreading_never_runs_past_a_shorter_word() -> None:
    # a two-syllable name beside a three-syllable one: the shorter name's span must not take the next space
    text = "작성: 박혜정 / 환자 최율 (10988609)\n최율 님 퇴원"
    names = [text[s.start : s.end] for s in deidentify(text).spans if s.label == "PERSON"]
    assert names == ["박혜정", "최율", "최율"]
