"""Synthetic clinical notes (Korean, English, mixed) quoting identifiers, with exact gold PHI spans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dari.errors import InputError
from dari.kr.names import pooled_name
from dari.kr.textforms import (
    CP949_SAFE,
    DATE_STYLES,
    PHONE_STYLES,
    RRN_STYLES,
    format_date,
    format_phone,
    format_rrn,
)

NOTE_TITLES: dict[str, str] = {
    "discharge_summary": "퇴원요약", "progress": "경과기록", "nursing": "간호기록", "referral": "의뢰서",
    "consent": "동의서", "hp_en": "H&P", "radiology": "영상판독", "mixed": "경과기록(mixed)",
}  # fmt: skip
NOTE_KINDS: tuple[str, ...] = tuple(NOTE_TITLES)
LABELS: tuple[str, ...] = ("PERSON", "RRN", "PHONE", "EMAIL", "ADDRESS", "MRN", "DATE", "AGE")
# Words a de-identifier must leave alone: they start like surnames (이, 정, 신, 고, 조, 임, 전, 안, 강),
# are eponyms, or are numbers shaped like dates. Notes record where they placed them.
TRICKY_TERMS: tuple[str, ...] = (
    "이상", "정상", "신장", "고혈압", "조영제", "임상", "전신", "안정", "강직",
    "Parkinson", "Alzheimer", "Cushing", "130/80", "12.5",
)  # fmt: skip
AGE_LABEL_OVER = 89  # ages above this are identifiers (HIPAA Safe Harbor); younger ages stay plain text
_OTHER_HOSPITALS = (
    "한빛내과의원",
    "바른정형외과의원",
    "새봄가정의학과의원",
    "중앙대학교병원",
    "늘푸른요양병원",
)


@dataclass(frozen=True)
class Condition:
    """A diagnosis as doctors name it: Korean, English, and the abbreviation they scribble."""

    ko: str
    en: str
    abbr: str | None = None


@dataclass(frozen=True)
class LabValue:
    """One lab result quoted in a note."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class ClinicalFacts:
    """The clinical content a note is written from."""

    age: int
    sex: str  # 'M' or 'F'
    conditions: Sequence[Condition]
    drugs: Sequence[str]
    labs: Sequence[LabValue]
    visit_date: dt.date
    department: str


@dataclass
class RenderedNote:
    """Note text, gold identifier spans (start, end, label) and placed non-identifier distractors."""

    kind: str
    text: str
    spans: list[tuple[int, int, str]]
    distractors: list[tuple[int, int, str]] = field(default_factory=list)


class _Writer:
    """Accumulates text while recording exact offsets of identifiers and distractors."""

    def __init__(self, facts: ClinicalFacts, identity: Mapping[str, object], rng: np.random.Generator) -> None:
        self.facts, self.ident, self.rng = facts, identity, rng
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[tuple[int, int, str]] = []
        self.distractors: list[tuple[int, int, str]] = []
        # One generator call per note: scalar Generator calls cost microseconds each.
        self.uniform = rng.random(48).tolist()

    def u(self) -> float:
        """Next uniform [0, 1) number of the note's block (refilled if a note ever needs more)."""
        if not self.uniform:
            self.uniform = self.rng.random(48).tolist()
        return float(self.uniform.pop())

    def __call__(self, text: str) -> _Writer:
        """Plain text; TRICKY_TERMS inside braces ({정상}) are recorded as distractors."""
        if "{" not in text:
            self._put(text)
            return self
        chunks = text.split("{")
        self._put(chunks[0])
        for chunk in chunks[1:]:
            word, _, rest = chunk.partition("}")
            self.distractors.append((self.pos, self.pos + len(word), word))
            self._put(word + rest)
        return self

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)

    def ent(self, label: str, value: str) -> _Writer:
        """An identifier: record its span exactly as written."""
        self.spans.append((self.pos, self.pos + len(value), label))
        self._put(value)
        return self

    def get(self, key: str) -> str | None:
        value = self.ident.get(key)
        return None if value is None or value == "" else str(value)

    def p(self, options: tuple[str, ...]) -> str:
        return options[int(self.u() * len(options))]

    # Identifier helpers: each writes one identifier in a randomly chosen realistic form.
    def name(self) -> _Writer:
        return self.ent("PERSON", self.get("name_ko") or "")

    def name_en(self) -> _Writer:
        value = self.get("name_en") or ""
        return self.ent("PERSON", value if self.u() < 0.5 else value.title())

    def rrn(self, styles: tuple[str, ...] = RRN_STYLES) -> _Writer:
        return self.ent("RRN", format_rrn(self.get("rrn") or "", self.p(styles)))

    def phone(self, number: str | None = None, styles: tuple[str, ...] = PHONE_STYLES) -> _Writer:
        value = number or self.get("phone_mobile") or self.get("phone_home")
        return self("미등록") if value is None else self.ent("PHONE", format_phone(value, self.p(styles)))

    def address(self) -> _Writer:
        key = "lot_address" if self.u() < 0.25 and self.get("lot_address") else "road_address"
        return self.ent("ADDRESS", self.get(key) or "")

    def mrn(self) -> _Writer:
        return self.ent("MRN", self.get("patient_no") or "")

    def email(self) -> _Writer:
        value = self.get("email")
        return self("") if value is None else self.ent("EMAIL", value)

    def date(self, day: dt.date, styles: tuple[str, ...] = ("iso", "dot", "dot_padded", "korean")) -> _Writer:
        return self.ent("DATE", format_date(day, self.p(styles)))

    def birth(self, styles: tuple[str, ...] = DATE_STYLES) -> _Writer:
        born = self.ident.get("birth_date")
        return self.date(born, styles) if isinstance(born, dt.date) else self.rrn(("masked",))

    def age(self, suffix: str = "세") -> _Writer:
        text = f"{self.facts.age}{suffix}"
        return self.ent("AGE", text) if self.facts.age > AGE_LABEL_OVER else self(text)

    def person(self, male: bool | None = None, english: bool = False) -> _Writer:
        is_male = self.u() < 0.5 if male is None else male
        ko, en = pooled_name(is_male, self.u())
        return self.ent("PERSON", en.title() if english else ko)

    def note(self, kind: str) -> RenderedNote:
        return RenderedNote(kind, "".join(self.parts), self.spans, self.distractors)


_SAFE = CP949_SAFE | str.maketrans("{}", "()")
_UNSAFE = frozenset(chr(c) for c in _SAFE)


def _s(text: str) -> str:
    return text if _UNSAFE.isdisjoint(text) else text.translate(_SAFE)


def _clean(f: ClinicalFacts) -> ClinicalFacts:
    """Facts come from outside: make them CP949-safe and brace-free (braces mark distractors)."""
    return ClinicalFacts(
        age=f.age, sex=f.sex, visit_date=f.visit_date, department=_s(f.department),
        conditions=[Condition(_s(c.ko), _s(c.en), c.abbr and _s(c.abbr))
                    for c in f.conditions],
        drugs=[_s(d) for d in f.drugs],
        labs=[LabValue(_s(x.name), x.value, _s(x.unit)) for x in f.labs],
    )  # fmt: skip


def _sex_ko(f: ClinicalFacts) -> str:
    return "남자" if f.sex == "M" else "여자"


def _dx(f: ClinicalFacts, how: str) -> str:
    if not f.conditions:
        return {"ko": "특이 병력 없음", "en": "no significant past history", "abbr": "특이 병력 없음"}[how]
    return ", ".join(c.ko if how == "ko" else c.en if how == "en" else (c.abbr or c.en) for c in f.conditions)


def _labs(f: ClinicalFacts) -> str:
    return ", ".join(f"{lab.name} {lab.value:g}{'' if lab.unit == '%' else ' '}{lab.unit}" for lab in f.labs)


def _drugs(f: ClinicalFacts) -> str:
    return ", ".join(f.drugs) if f.drugs else "없음"


def _days(f: ClinicalFacts, n: int) -> dt.date:
    return f.visit_date + dt.timedelta(days=n)


def _discharge(w: _Writer) -> None:
    f = w.facts
    admit = _days(f, -3 - int(w.u() * 12))
    w("[퇴원요약]\n환자명: ").name()("    등록번호: ").mrn()(f"    성별/나이: {f.sex}/").age()("\n")
    w("주민등록번호: ").rrn()("\n입원일: ").date(admit)("    퇴원일: ").date(f.visit_date)(
        f"    진료과: {f.department}\n"
    )
    w(f"진단명: {_dx(f, 'ko')} ({_dx(f, 'en')})\n\n입원경위: ").age()(f" {_sex_ko(f)} 환자로 {_dx(f, 'abbr')} ")
    w("있으며 증상 악화로 입원함.\n경과: 입원 후 약물 조정하며 경과 관찰함. ")
    w("{전신} 상태 양호하였고 활력징후 {안정}적으로 ")
    w("유지됨. {조영제} 사용 CT 시행하였으며 특이 {이상} 소견 없었음. {신장} 기능 {정상} 범위.\n")
    w(f"검사: {_labs(f)}, BP {{130/80}} mmHg, WBC {{12.5}}\n퇴원약: {_drugs(f)}\n")
    w("퇴원 후 계획: ").date(_days(f, 14))(" 외래 f/u 예정.\n주치의: ").person()("\n")


def _progress(w: _Writer) -> None:
    f = w.facts
    w.date(f.visit_date)(f" 경과기록 ({f.department})\nS) 특이 호소 없음. 두통 및 경부 {{강직}} 없음.\n")
    w(f"O) BP {{130/80}}, HR 72, BT 36.8. {_labs(f)}\nA) {_dx(f, 'abbr')} - {{임상}}적으로 {{안정}}\n")
    w(f"P) 현 처방 유지 ({_drugs(f)}), {{고혈압}} 조절 확인. ").date(_days(f, 28))(" 재진.\n")
    w("작성: ").person()(" / 환자 ").name()(" (").mrn()(")\n")


def _nursing(w: _Writer) -> None:
    f = w.facts
    w.date(f.visit_date, ("iso", "dot_padded"))(" 14:30 간호기록\n환자 ").name()("님 (").age()(
        f"/{f.sex}) 병실 도착함. "
    )
    w("보호자 연락처 ").phone()(".\n활력징후 {안정}적임 (BP {130/80}). {전신} 부종 없음. {고혈압} 약 복용 확인함.\n")
    w("낙상 위험 교육 시행함. 피부 {이상} 소견 없음.\n기록자: RN ").person(male=False)("\n")


def _referral(w: _Writer) -> None:
    f = w.facts
    w(f"진료의뢰서\n수신: {w.p(_OTHER_HOSPITALS)} {f.department} 선생님 귀하\n환자 성명: ").name()
    w("    생년월일: ").birth(("iso", "dot_padded", "korean"))("\n주민등록번호: ").rrn()("\n주소: ").address()
    w("\n연락처: ").phone()
    if w.get("email"):
        w("    이메일: ").email()
    w(f"\n상병명: {_dx(f, 'ko')}\n의뢰 내용: 상기 환자 ").age()(f" {_sex_ko(f)}로 {_dx(f, 'abbr')} 있으며 ")
    w(f"{_labs(f)} 소견으로 추가 평가 위해 의뢰드립니다. {{신장}} 기능 {{이상}} 여부 확인 부탁드립니다.\n")
    w("의뢰일: ").date(f.visit_date)("\n의뢰의사: ").person()(f" ({f.department})\n")


def _consent(w: _Writer) -> None:
    f = w.facts
    w("시술 동의서\n등록번호: ").mrn()("    환자명: ").name()("    주민등록번호: ").rrn()("\n주소: ").address()
    w("\n예정 시술: {조영제} 사용 CT\n본인은 {조영제} 부작용(두드러기, {전신} 반응) 및 드물게 {신장} 기능 ")
    w("{이상}이 발생할 수 있음을 설명 들었으며 이에 동의합니다.\n환자 서명: ").name()
    relation = w.p(("배우자", "아들", "딸", "보호자"))
    male = {"배우자": f.sex == "F", "아들": True, "딸": False}.get(relation)
    guardian_phone = f"010-{2000 + int(w.u() * 8000)}-{int(w.u() * 10000):04d}"
    w("\n보호자: ").person(male=male)(f" (관계: {relation})    연락처: ").phone(guardian_phone)
    w("\n설명 의사: ").person()("\n작성일: ").date(f.visit_date, ("iso", "korean", "dot"))("\n")


def _hp_en(w: _Writer) -> None:
    f = w.facts
    us = ("us", "iso")
    w("HISTORY AND PHYSICAL\nPatient: ").name_en()("    MRN: ").mrn()("    DOB: ").birth(us)("\n")
    w("Date of admission: ").date(f.visit_date, us)(f"\nCC: worsening of {_dx(f, 'en')}\nHPI: ")
    w("This is a ").age("-year-old")(f" {'male' if f.sex == 'M' else 'female'} with {_dx(f, 'abbr')} ")
    w("who presents for evaluation.\nPMH: No history of {Parkinson} disease or {Alzheimer} dementia; ")
    w(f"{{Cushing}} syndrome ruled out.\nMeds: {_drugs(f)}\nSocial: lives at ").address()
    w(". Contact ").phone(styles=("international", "hyphen"))
    if w.get("email"):
        w(", e-mail ").email()
    w(f".\nPE: BP {{130/80}} mmHg, HR 78, alert, not in distress.\nLabs: {_labs(f)}, WBC {{12.5}}\n")
    w(f"A/P: {_dx(f, 'abbr')} - continue current medication, follow up in 4 weeks.\nAttending: Dr. ")
    w.person(english=True)("\n")


def _radiology(w: _Writer) -> None:
    f = w.facts
    w("[영상판독] CT abdomen with contrast\n검사일: ").date(f.visit_date)("    등록번호: ").mrn()
    w("    환자: ").name()(" (").age("Y")(f"/{f.sex})\nFindings: {{조영제}} 투여 후 특이 조영증강 없음. ")
    w("Both kidneys ({신장}) are normal in size. No focal lesion.\n")
    w("Impression: No acute abnormality. {정상} 소견.\n")
    w("판독의: ").person()(" / 판독일: ").date(_days(f, 1))("\n")


def _mixed(w: _Writer) -> None:
    f = w.facts
    w("Pt. ").name()(" (").mrn()(") / ").date(f.visit_date, ("iso", "dot"))("\n")
    w.age()(f" {_sex_ko(f)} 환자로 {_dx(f, 'abbr')} 있으며 f/u 위해 내원함. {_labs(f)}. BP {{130/80}}.\n")
    w("{전신} 상태 양호, {Cushing}oid feature 없음. {고혈압} 조절 양호.\n")
    w(f"Plan) {_drugs(f)} 유지, ").date(_days(f, 28), DATE_STYLES)(" f/u. 연락처 ").phone()("\n")


_RENDERERS: dict[str, Callable[[_Writer], None]] = {
    "discharge_summary": _discharge, "progress": _progress, "nursing": _nursing, "referral": _referral,
    "consent": _consent, "hp_en": _hp_en, "radiology": _radiology, "mixed": _mixed,
}  # fmt: skip


def render_note(
    kind: str, facts: ClinicalFacts, identity: Mapping[str, object], rng: np.random.Generator
) -> RenderedNote:
    """Render one note of `kind` (NOTE_KINDS) for a patient; spans are exact character offsets."""
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        raise InputError(f"unknown note kind {kind!r}; expected one of {', '.join(NOTE_KINDS)}")
    writer = _Writer(_clean(facts), identity, rng)
    renderer(writer)
    return writer.note(kind)
