"""A third, small note family ("clinic"): fresh templates for an unseen check of rules and tagger.

Written in December 2026 after the rules of that month, by a different hand from `dari.synth.notes` and
`corpus_ward`, from note *types* neither family has: 응급실 초진기록, 복약상담, 전원 소견서, 재활치료 경과, an English
ED note, a telephone encounter, a surgical pathology report and a mixed post-operative note. No rule or cue was
written after looking at this family's output; `benchmarks/deid.py` scores it once, as it comes. Identifiers are
labelled the way the other families label them: every name, phone (the hospital's too), record or accession
number, RRN, e-mail, address, date and age over 89.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from dari.errors import InputError
from dari.kr.names import random_name
from dari.privacy.text.corpus import LabelledDoc
from dari.privacy.text.model import Span
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities

# Names chosen for this family (not drawn from the shipped lexicons' lists).
_FOREIGN = ("Amara Osei", "Bjorn Halvorsen", "Keiko Tanabe", "Rafael Quintero", "Dmitri Volkov", "Siobhan Gallagher",
            "Tariq Haddad", "Ines Moreau", "Lars Eriksen", "Nadia Rahman", "Mateo Alvarez", "Priyanka Desai",
            "Olumide Adeyemi", "Freya Lindholm", "Hamish Fraser", "Yara Nasser")  # fmt: skip
_TEMPLATES = {
    "er": "[응급의학과 초진기록]  내원일시: {D} 14:20\n환자: {P} ({S}/{A}세)  환자번호: {MRN}\n주호소: 흉통 2시간\n"
    "현병력: 내원 2시간 전 흉통 발생하여 {RELK}({REL})가 119 신고함. 보호자 연락처 {TEL}\n"
    "진찰의: {DOC} / 지도전문의 {DOC2}",
    "pharmacy": "복약상담 기록지\n상담일: {D}\n대상: {P}님 (등록번호 {MRN})\n상담 약사 {DOC}\n"
    "{P}님께 와파린 복용법 설명함. 다음 상담 {D2} 예정.\n문의: 약제부 {HTEL}",
    "transfer": "전 원 소 견 서\n성명 {P}   주민등록번호 {RRN}\n주소 {ADDR}\n"
    "상기 환자는 {D} 본원 입원하여 치료 중 상급병원 전원이 필요하여 의뢰합니다.\n{D2}\n담당의사 {DOC} (인)",
    "rehab": "재활치료 경과 - {D}\n치료사: {DOC} / 환자 {P} ({MRN})\nFES 20분, 보행훈련 시행. 보호자 {REL} 님 동석함.\n"
    "다음 치료 {SD}",
    "ed_en": "ED Physician Note\nName: {PE}   MRN: {MRN}   Arrival: {DE}\n{A}-year-old presenting after a fall at "
    "home. Brought in by daughter {FE}.\nContact: {TEL}\nAttending: {FE2}, MD\nDictated by {FE3}",
    "phone_en": "Telephone encounter {DU}\nCaller: {FE} (spouse of patient {PE})\nCallback number {TEL}\n"
    "Question about discharge medications. Routed to {FE2}.\n-- {FE3}, RN",
    "pathology_en": "SURGICAL PATHOLOGY REPORT\nPatient: {PC}  MR#: {MRN}\nCollected: {DE}  Received: {DE2}\n"
    "Surgeon: {FE}\nDiagnosis: tubular adenoma, low grade.\nElectronically signed out by {FE2} on {DE3}",
    "postop": "POD#2 {P} 환자 ambulation 시행함. Dr. {SURN} notified.\n보호자 {REL} ({TEL}) 에게 경과 설명 완료. "
    "자료 요청 e-mail {EMAIL}\n작성 {DOC}",
}
KINDS: tuple[str, ...] = tuple(_TEMPLATES)
_FIELD = re.compile(r"\{([A-Z0-9]+)\}")
_LABEL = {"P": "PERSON", "PE": "PERSON", "PC": "PERSON", "REL": "PERSON", "DOC": "PERSON", "DOC2": "PERSON",
          "FE": "PERSON", "FE2": "PERSON", "FE3": "PERSON", "SURN": "PERSON", "MRN": "MRN", "RRN": "RRN",
          "TEL": "PHONE", "HTEL": "PHONE", "ADDR": "ADDRESS", "EMAIL": "EMAIL", "D": "DATE", "D2": "DATE",
          "SD": "DATE", "DE": "DATE", "DE2": "DATE", "DE3": "DATE", "DU": "DATE"}  # fmt: skip
_KIN = ("아들", "딸", "배우자", "며느리", "손녀")


def _korean_date(day: dt.date, rng: np.random.Generator) -> str:
    forms = (f"{day:%Y-%m-%d}", f"{day:%Y.%m.%d}", f"{day.year}년 {day.month}월 {day.day}일", f"{day:%y.%m.%d}",
             f"{day.year}/{day.month}/{day.day}")  # fmt: skip
    return str(forms[int(rng.integers(len(forms)))])


def _english_date(day: dt.date, rng: np.random.Generator) -> str:
    forms = (f"{day:%b} {day.day}, {day.year}", f"{day:%d-%b-%Y}".upper(), f"{day.day} {day:%B} {day.year}")
    return str(forms[int(rng.integers(len(forms)))])


def _romanised(name_en: str, rng: np.random.Generator) -> tuple[str, str]:
    """(free form, comma form) of a passport name: Jeong Seongsik / Seongsik Jeong, and JEONG, SEONGSIK."""
    surname, given = name_en.split(" ", 1)
    free = f"{surname.title()} {given.title()}" if rng.random() < 0.5 else f"{given.title()} {surname.title()}"
    return free, f"{surname}, {given}"


def make_clinic_corpus(n_docs: int, seed: int) -> list[LabelledDoc]:
    """n_docs notes cycling through the eight kinds, one synthetic patient each."""
    if n_docs < 0:
        raise InputError(f"n_docs must be >= 0, got {n_docs}")
    rng = np.random.default_rng(seed)
    hospital = next(iter(HOSPITAL_REGION_WEIGHTS))
    births = np.datetime64("1925-01-01") + rng.integers(0, 30_000, n_docs).astype("timedelta64[D]")
    sex = np.where(rng.random(n_docs) < 0.5, "M", "F")
    people = generate_identities(
        n_docs, rng, region_weights=HOSPITAL_REGION_WEIGHTS[hospital], birth_dates=births, sex=sex,
        hospital_code=hospital,
    ).to_pylist() if n_docs else []  # fmt: skip
    docs = []
    for i, person in enumerate(people):
        kind = KINDS[i % len(KINDS)]
        day = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))
        later = day + dt.timedelta(days=int(rng.integers(1, 60)))
        born = person["birth_date"]
        age = day.year - born.year
        free, comma = _romanised(str(person["name_en"]), rng)
        foreign = [str(x) for x in rng.choice(_FOREIGN, 3, replace=False)]
        home = f"031-{int(rng.integers(200, 1000))}-{int(rng.integers(1000, 10000))}"  # some people list no phone
        p = str(person["name_ko"])
        values = {
            "P": p if rng.random() > 0.05 else f"{p[0]} {p[1:]}", "PE": free, "PC": comma, "S": str(person["sex"]),
            "A": str(age), "RELK": str(rng.choice(_KIN)), "REL": random_name(bool(rng.random() < 0.5), rng)[0],
            "DOC": random_name(True, rng)[0], "DOC2": random_name(False, rng)[0], "FE": foreign[0],
            "FE2": foreign[1], "FE3": foreign[2], "SURN": foreign[1].split()[-1], "MRN": str(person["patient_no"]),
            "RRN": str(person["rrn"]), "TEL": str(person["phone_mobile"] or person["phone_home"] or home),
            "HTEL": f"02-{int(rng.integers(2000, 4000))}-{int(rng.integers(1000, 10000))}",  # a hospital's line
            "ADDR": str(person["road_address"]), "EMAIL": str(person["email"] or f"pt{i}@example.kr"),
            "D": _korean_date(day, rng), "D2": _korean_date(later, rng), "SD": f"{later.month}/{later.day}",
            "DE": _english_date(day, rng), "DE2": _english_date(later, rng), "DE3": _english_date(later, rng),
            "DU": f"{day.month}/{day.day}/{day.year}",
        }  # fmt: skip
        text, spans = _render(_TEMPLATES[kind], values, age)
        docs.append(LabelledDoc(f"clinic-{seed}-{i:05d}", kind, text, spans))
    return docs


def _render(template: str, values: dict[str, str], age: int) -> tuple[str, list[Span]]:
    parts: list[str] = []
    spans: list[Span] = []
    pos = length = 0
    for m in _FIELD.finditer(template):
        parts.append(template[pos : m.start()])
        length += m.start() - pos
        key, value = m.group(1), values[m.group(1)]
        label = _LABEL.get(key) or ("AGE" if key == "A" and age > 89 else None)
        if label == "AGE":
            suffix = template[m.end() : m.end() + 1]
            if suffix == "세":  # 93세 is the age; -year-old is part of it too
                spans.append(Span(length, length + len(value) + 1, "AGE"))
            else:
                spans.append(Span(length, length + len(value) + len("-year-old"), "AGE"))
        elif label is not None:
            spans.append(Span(length, length + len(value), label))
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    return "".join(parts), spans
