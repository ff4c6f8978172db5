"""Second, independently written note family ("ward"): other templates, other name sources, other layouts.

Written from note *types* as hospitals print them, not from the rules or the first family (dari.synth.notes):
퇴원요약, 경과기록, 간호기록 tables, 의뢰서 and 회신서, 동의서 with guardians and signatures, 수술기록 with the
surgical team, 영상판독 with referring and confirming doctors, English H&P, consult and discharge letters with names
that carry no title, and mixed Korean/English notes. Print headers and footers, copy-pasted lab blocks, spacing
variants (환자명 :, 성 명), short date forms (3/5, 3월5일, '24.3.5, 5-Mar) and uncued names (어제 김민수 님 다녀감)
appear at random. Other people's names are composed here from a surname frequency table and a given-syllable
list of this module; English names come from a hand-written list, only partly in the shipped lexicons.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable

import numpy as np

from dari.errors import InputError
from dari.privacy.text.corpus import LabelledDoc
from dari.privacy.text.model import Span
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities

WARD_KINDS: tuple[str, ...] = (
    "discharge", "progress", "nursing", "referral", "reply", "consent", "operation", "radiology",
    "hp_en", "consult_en", "letter_en", "mixed",
)  # fmt: skip

# Surnames with rough weights (Korean census shares, rounded), two-syllable ones included.
_SURNAMES = (
    ("김", 21.5), ("이", 14.7), ("박", 8.4), ("최", 4.7), ("정", 4.3), ("강", 2.4), ("조", 2.1), ("윤", 2.1),
    ("장", 2.0), ("임", 1.7), ("한", 1.5), ("오", 1.5), ("서", 1.5), ("신", 1.4), ("권", 1.4), ("황", 1.4),
    ("안", 1.3), ("송", 1.3), ("전", 1.1), ("홍", 1.1), ("유", 1.1), ("고", 0.9), ("문", 0.9), ("양", 0.8),
    ("손", 0.9), ("배", 0.8), ("백", 0.7), ("허", 0.6), ("노", 0.4), ("남", 0.5), ("심", 0.5), ("하", 0.5),
    ("곽", 0.4), ("성", 0.4), ("차", 0.4), ("주", 0.4), ("우", 0.4), ("구", 0.4), ("민", 0.3), ("진", 0.3),
    ("나", 0.3), ("지", 0.3), ("엄", 0.3), ("채", 0.2), ("원", 0.2), ("천", 0.2), ("방", 0.2), ("공", 0.2),
    ("현", 0.2), ("함", 0.2), ("변", 0.2), ("염", 0.2), ("여", 0.2), ("추", 0.1), ("도", 0.1), ("소", 0.1),
    ("석", 0.1), ("선", 0.1), ("설", 0.1), ("마", 0.1), ("길", 0.1), ("연", 0.1), ("위", 0.1), ("표", 0.1),
    ("명", 0.1), ("기", 0.1), ("반", 0.1), ("왕", 0.1), ("금", 0.1), ("옥", 0.1), ("육", 0.1), ("인", 0.1),
    ("맹", 0.1), ("제", 0.1), ("모", 0.1), ("탁", 0.1), ("국", 0.1), ("어", 0.1), ("경", 0.1), ("봉", 0.1),
    ("남궁", 0.05), ("황보", 0.05), ("제갈", 0.03), ("선우", 0.03), ("독고", 0.01),
)  # fmt: skip
_SURNAME_WORDS = tuple(s for s, _ in _SURNAMES)
_SURNAME_WEIGHTS = tuple(w for _, w in _SURNAMES)
_GIVEN_FIRST = tuple("민서지현준영수진하은성예도윤재동정혜경미상우주희태승연소채가유시아나다선용광철병종명순옥숙자")
_GIVEN_SECOND = tuple("민준서우호현진영수희아윤은빈원연경숙자순희미철식석환훈규혁범찬율린주나정란옥애남")
# English names written for this family; some are deliberately outside any frequency list.
_EN_GIVEN = (
    "James", "Robert", "Michael", "David", "Daniel", "Thomas", "Andrew", "Kevin", "Brian", "Eric", "Samuel",
    "Peter", "Mark", "Jonathan", "Patrick", "Nathan", "Oliver", "Henry", "Arjun", "Tobias", "Mateo", "Chidi",
    "Mary", "Jennifer", "Linda", "Susan", "Karen", "Emily", "Rachel", "Laura", "Hannah", "Sophie", "Claire",
    "Olivia", "Grace", "Megan", "Priya", "Ingrid", "Aoife", "Leticia", "Marguerite", "Ngozi", "Yuki", "Anika",
)  # fmt: skip
_EN_SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall",
    "Young", "Allen", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Carter", "Mitchell", "Roberts",
    "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "O'Neil",
    "Fitzgerald", "Nakamura", "Okafor", "Castellanos", "Lindqvist", "Novak", "Haddad", "Brennan", "Kowalski",
    "Fernandes", "Nguyen", "Sørensen", "MacLeod", "Abernathy", "Whitlock", "Delacroix", "Achebe", "Ramanathan",
)  # fmt: skip
_ROMAN = {
    "김": "Kim", "이": "Lee", "박": "Park", "최": "Choi", "정": "Jung", "강": "Kang", "조": "Cho", "윤": "Yoon",
    "장": "Jang", "임": "Lim", "한": "Han", "오": "Oh", "서": "Seo", "신": "Shin", "권": "Kwon", "황": "Hwang",
    "안": "Ahn", "송": "Song", "홍": "Hong", "유": "Yoo", "고": "Ko", "문": "Moon", "배": "Bae", "백": "Baek",
}  # fmt: skip
_SYL_ROMAN = {
    "민": "min", "서": "seo", "지": "ji", "현": "hyun", "준": "jun", "영": "young", "수": "soo", "진": "jin",
    "하": "ha", "은": "eun", "성": "sung", "예": "ye", "도": "do", "윤": "yoon", "재": "jae", "동": "dong",
    "정": "jung", "혜": "hye", "경": "kyung", "미": "mi", "상": "sang", "우": "woo", "주": "joo", "희": "hee",
    "태": "tae", "승": "seung", "연": "yeon", "호": "ho", "아": "a", "원": "won", "빈": "bin", "훈": "hoon",
}  # fmt: skip
_HOSPITALS = ("한빛대학교병원", "서울누리병원", "새봄의료원", "대한중앙병원", "청솔요양병원", "바른내과의원")
_DEPTS = ("소화기내과", "호흡기내과", "심장내과", "신경외과", "정형외과", "외과", "비뇨의학과", "재활의학과")
_DX = (
    ("급성 담낭염", "acute cholecystitis"), ("지역사회획득 폐렴", "community-acquired pneumonia"),
    ("요로감염", "urinary tract infection"), ("대퇴골 경부 골절", "femoral neck fracture"),
    ("급성 심근경색", "acute myocardial infarction"), ("허혈성 뇌졸중", "ischaemic stroke"),
    ("충수돌기염", "appendicitis"), ("당뇨병성 케톤산증", "diabetic ketoacidosis"),
)  # fmt: skip
_LAB_ROWS = (
    ("WBC", "10^3/uL", 4.0, 10.0), ("Hb", "g/dL", 12.0, 16.0), ("PLT", "10^3/uL", 150, 400),
    ("CRP", "mg/dL", 0.0, 0.5), ("BUN", "mg/dL", 8, 23), ("Cr", "mg/dL", 0.6, 1.2), ("Na", "mmol/L", 135, 145),
    ("K", "mmol/L", 3.5, 5.1), ("AST", "U/L", 0, 40), ("ALT", "U/L", 0, 40), ("Glucose", "mg/dL", 70, 110),
)  # fmt: skip
_RELATIONS = ("배우자", "아들", "딸", "며느리", "사위", "남편", "처", "모", "부", "손녀", "형")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FIRST_VISIT, _LAST_VISIT = dt.date(2018, 6, 1), dt.date(2025, 6, 30)


class _Note:
    """Text under construction with gold spans; every identifier goes through `tag`."""

    def __init__(self, rng: random.Random, person: dict[str, object]) -> None:
        self.rng, self.person = rng, person
        self.buf: list[str] = []
        self.pos = 0
        self.spans: list[tuple[int, int, str]] = []
        self.people: dict[str, str] = {}

    def __call__(self, *parts: str) -> _Note:
        for part in parts:
            self.buf.append(part)
            self.pos += len(part)
        return self

    def tag(self, label: str, value: str) -> _Note:
        """Write an identifier and record its span."""
        if value:
            self.spans.append((self.pos, self.pos + len(value), label))
            self(value)
        return self

    def pick(self, options: tuple[str, ...]) -> str:
        return str(options[self.rng.randrange(len(options))])

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # --- people -----------------------------------------------------------------------------------------
    def ko_name(self, role: str = "") -> str:
        """A Korean name, the same one each time a role is asked for in this note."""
        if role and role in self.people:
            return self.people[role]
        surname = str(self.rng.choices(_SURNAME_WORDS, _SURNAME_WEIGHTS)[0])
        given = self.pick(_GIVEN_FIRST) + ("" if self.chance(0.06) else self.pick(_GIVEN_SECOND))
        name = surname + given
        if role:
            self.people[role] = name
        return name

    def en_name(self, role: str = "", *, korean: bool = False) -> str:
        """An English-script name: a Western one, or a romanised Korean one in one of several orders."""
        if role and role in self.people:
            return self.people[role]
        if korean:
            surname = self.pick(tuple(_ROMAN.values()))
            a, b = self.pick(tuple(_SYL_ROMAN.values())), self.pick(tuple(_SYL_ROMAN.values()))
            name = self.pick(
                (
                    f"{a.title()}-{b} {surname}",
                    f"{surname} {a.title()}{b}",
                    f"{surname.upper()}, {a.upper()} {b.upper()}",
                )
            )
        else:
            name = f"{self.pick(_EN_GIVEN)} {self.pick(_EN_SURNAMES)}"
        if role:
            self.people[role] = name
        return name

    def patient(self) -> str:
        return str(self.person["name_ko"])

    def name(self, value: str) -> _Note:
        """A name; now and then with a space inside (홍 길동), as hand-typed forms have it."""
        if len(value) == 3 and re.fullmatch(r"[가-힣]+", value) and self.chance(0.04):
            value = value[0] + " " + value[1:]
        return self.tag("PERSON", value)

    # --- other identifiers --------------------------------------------------------------------------------
    def date(self, day: dt.date, forms: str = "full") -> _Note:
        """A date in a form from `forms`: full (with year), short (no year / two-digit year) or en (English)."""
        y, m, d = day.year, day.month, day.day
        full = (f"{y}-{m:02d}-{d:02d}", f"{y}.{m:02d}.{d:02d}", f"{y}. {m}. {d}.", f"{y}/{m}/{d}",
                f"{y}년 {m}월 {d}일", f"{y}년{m}월{d}일", f"{y % 100:02d}.{m:02d}.{d:02d}")  # fmt: skip
        short = (f"{m}/{d}", f"{m}월 {d}일", f"{m}월{d}일", f"'{y % 100:02d}.{m}.{d}", f"{y % 100:02d}/{m:02d}/{d:02d}",
                 f"{m:02d}/{d:02d}")  # fmt: skip
        mon = _MONTHS[m - 1]
        en = (f"{mon} {d}, {y}", f"{d} {mon} {y}", f"{d}-{mon}-{y}", f"{m}/{d}/{y}", f"{mon} {d}", f"{d}-{mon}")
        options = {"full": full, "short": short, "en": en, "any": full + short}[forms]
        return self.tag("DATE", self.pick(options))

    def mrn(self) -> _Note:
        return self.tag("MRN", str(self.person["patient_no"]))

    def rrn(self) -> _Note:
        rrn = str(self.person["rrn"])
        form = self.rng.random()
        if form < 0.5:
            value = rrn
        elif form < 0.75:
            value = rrn[:8] + "******"
        elif form < 0.9:
            value = rrn.replace("-", "")
        else:
            value = rrn.replace("-", " - ")
        return self.tag("RRN", value)

    def phone(self, number: str | None = None) -> _Note:
        value = number or str(self.person.get("phone_mobile") or self.person.get("phone_home") or "")
        if not value:
            return self("없음")
        parts = value.split("-")
        form = self.rng.random()
        if form < 0.55:
            out = value
        elif form < 0.7:
            out = "".join(parts)
        elif form < 0.8:
            out = " ".join(parts)
        elif form < 0.9:
            out = ".".join(parts)
        elif parts[0] == "010":
            out = "+82-10-" + "-".join(parts[1:])
        else:
            out = f"({parts[0]}) {'-'.join(parts[1:])}"
        return self.tag("PHONE", out)

    def family_phone(self) -> str:
        return f"010-{self.rng.randint(2000, 9999)}-{self.rng.randint(0, 9999):04d}"

    def address(self) -> _Note:
        key = "lot_address" if self.chance(0.3) else "road_address"
        return self.tag("ADDRESS", str(self.person[key]))

    def email(self) -> _Note:
        value = self.person.get("email")
        return self.tag("EMAIL", str(value)) if value else self("-")

    def age(self, years: int, suffix: str = "세") -> _Note:
        text = f"{years}{suffix}"
        return self.tag("AGE", text) if years > 89 else self(text)

    # --- layout ------------------------------------------------------------------------------------------
    def header(self, hospital: str, title: str) -> _Note:
        if self.chance(0.5):
            self(f"{'=' * 6} {hospital} {'=' * 6}\n")
        return self(f"{title}\n")

    def footer(self, printed: dt.date) -> _Note:
        if self.chance(0.5):
            self("\n", "-" * 40, "\n출력일시: ").date(printed, "full")(
                f" {self.rng.randint(8, 18):02d}:{self.rng.randint(0, 59):02d}"
            )
            self("  출력자: ").name(self.ko_name("printer"))(f"  Page 1/{self.rng.randint(1, 3)}\n")
        return self

    def labs(self) -> _Note:
        rows = self.rng.sample(_LAB_ROWS, self.rng.randint(3, 7))
        if self.chance(0.5):
            self("[Lab]\n")
            for name, unit, lo, hi in rows:
                value = round(self.rng.uniform(lo * 0.7, hi * 1.4), 1)
                flag = " H" if value > hi else " L" if value < lo else ""
                self(f"{name:<8}{value:>7}{flag:<3} {unit:<9} ({lo}-{hi})\n")
        else:
            self("Lab) ", ", ".join(f"{n} {round(self.rng.uniform(lo, hi * 1.2), 1)}" for n, _, lo, hi in rows), "\n")
        return self

    def field(self, label: str) -> _Note:
        """A form label with one of the spacings real forms have (환자명:, 환자명 :, 환자명 : , 환자명　)."""
        return self(label + self.pick((": ", " : ", ":", " ", "  ")))


def _discharge(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    admit = day - dt.timedelta(days=n.rng.randint(2, 20))
    n.header(n.pick(_HOSPITALS), n.pick(("퇴 원 요 약 지", "퇴원요약지", "DISCHARGE SUMMARY (퇴원요약)")))
    n("| ").field("성 명" if n.chance(0.3) else "환자명").name(n.patient())(" | ").field("병록번호").mrn()
    n(f" | 성별/나이 {n.person['sex']}/").age(age)(" |\n| 입원일 ").date(admit)(" | 퇴원일 ").date(day)(" |\n")
    n(f"\n1. 주진단: {dx[0]}\n2. 입원 경과\n")
    n("  ").date(admit, "short")(" 응급실 경유 입원. ")
    n(f"{dx[0]} 진단 하에 항생제 치료 시작함.\n  ").date(admit + dt.timedelta(days=2), "short")
    n(" 증상 호전 보여 경구약으로 변경.\n")
    n.labs()
    n("3. 퇴원 시 상태: 호전\n4. 외래: ").date(day + dt.timedelta(days=14), "any")(f" {n.pick(_DEPTS)} ")
    n.name(n.ko_name("doctor"))(" 교수 외래\n")
    n("담당전공의 ").name(n.ko_name("resident"))(" / 주치의 ").name(n.ko_name("doctor"))(" (서명)\n")
    n.footer(day + dt.timedelta(days=1))


def _progress(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.header(n.pick(_HOSPITALS), "경과기록지")
    n("[").mrn()("] ").name(n.patient())(f" {n.person['sex']}/").age(age)("\n")
    for k in range(n.rng.randint(2, 4)):
        d = day + dt.timedelta(days=k)
        n("\n# ").date(d, "any")(f" POD#{k}\n" if n.chance(0.3) else "\n")
        n(n.pick(("S: 통증 감소. 밤에 잘 잤다고 함.\n", "S: 복통 지속, 식사 반 공기.\n", "S) 특이 호소 없음\n")))
        n(
            f"O: BT {round(n.rng.uniform(36.2, 38.4), 1)} HR {n.rng.randint(60, 110)} "
            f"BP {n.rng.randint(100, 150)}/{n.rng.randint(60, 95)}\n"
        )
        if n.chance(0.3):
            n("   어제 ").name(n.ko_name("son"))(" 님 (아들) 면회, 보호자 교육 시행함.\n")
        n(f"A: {dx[0]}, improving\nP: 현 치료 유지\n")
    n("\n기록: ").name(n.ko_name("resident"))(n.pick((" R2", " 전공의", "", " (R1)")))("\n")
    n.footer(day)


def _nursing(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n("간호기록 | 병동 ").__call__(f"{n.rng.randint(5, 15)}{n.pick(('W', '병동', 'A'))} | ").name(n.patient())
    n(" (").mrn()(")\n일자/시간 | 내용 | 서명\n")
    for _ in range(n.rng.randint(3, 5)):
        t = f"{n.rng.randint(0, 23):02d}:{n.rng.randint(0, 59):02d}"
        n.date(day, n.pick(("full", "short")))(f" {t} | ")
        n(
            n.pick(
                ("V/S 측정함, 특이사항 없음", "PRN 진통제 투여함", "낙상 예방 교육함", "수면 양호함", "식사 1/2 섭취")
            )
        )
        n(" | ").name(n.ko_name(f"nurse{n.rng.randint(1, 2)}"))(n.pick(("", " RN", "/RN", " 간호사")))("\n")
    if n.chance(0.6):
        n("보호자 ").name(n.ko_name("guardian"))(f"({n.pick(_RELATIONS)}) 상주함, 연락처 ").phone(n.family_phone())(
            "\n"
        )


def _referral(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.header(n.pick(_HOSPITALS), n.pick(("진 료 의 뢰 서", "진료의뢰서", "협진 의뢰서")))
    n(f"받는 곳: {n.pick(_HOSPITALS)} {n.pick(_DEPTS)} ")
    n.name(n.ko_name("receiver"))(n.pick((" 선생님 귀하", " 교수님께", " 원장님")))("\n")
    n.field("환자 성명").name(n.patient())("  ").field("생년월일")
    born = n.person["birth_date"]
    assert isinstance(born, dt.date)
    n.date(born, "full")("  ").field("주민번호").rrn()("\n").field("주소").address()("\n")
    n.field("전화").phone()("   ").field("E-mail").email()("\n")
    n(f"진단명: {dx[0]}\n소견: 상기 ").age(age)(f" 환자 {dx[1]} 의심되어 정밀 검사 및 치료 위해 의뢰드립니다.\n")
    n.labs()
    n("\n").date(day, "full")("\n의뢰 기관: ", n.pick(_HOSPITALS), "\n의뢰 의사: ").name(n.ko_name("sender"))
    n(n.pick((" (인)", "(서명)", "  면허번호 ", "")))
    if n.buf[-1].endswith("면허번호 "):
        n(str(n.rng.randint(10000, 99999)))
    n("\n")


def _reply(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.header(n.pick(_HOSPITALS), "회 신 서" if n.chance(0.5) else "진료회신서")
    n(f"{n.pick(_HOSPITALS)} ").name(n.ko_name("sender"))(" 선생님께\n\n")
    n("보내주신 ").name(n.patient())(" 님(").mrn()(")은 ").date(day, "any")(" 본원 외래 초진하였습니다.\n")
    n(f"검사 결과 {dx[0]} 소견으로 입원 치료 예정이며, 경과는 추후 다시 회신드리겠습니다.\n")
    n("의뢰해 주셔서 감사합니다.\n\n").date(day, "full")("\n").__call__(f"{n.pick(_DEPTS)} ").name(n.ko_name("doctor"))(
        " 드림\n"
    )


def _consent(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.header(n.pick(_HOSPITALS), n.pick(("수술(시술) 동의서", "마취 동의서", "수혈 동의서")))
    n.field("등록번호").mrn()("\n").field("환자명").name(n.patient())("   ").field("성별/나이")
    n(f"{n.person['sex']}/").age(age)("\n")
    n("\n본인(또는 대리인)은 담당 의사로부터 수술의 목적, 방법, 예상되는 합병증에 대하여 충분한 설명을 들었으며\n")
    n("이에 동의합니다.\n\n설명한 의사: ").name(n.ko_name("doctor"))("   서명 ________\n")
    n("환자: ").name(n.patient())("   서명 ________\n")
    if n.chance(0.8):
        relation = n.pick(_RELATIONS)
        n.field("대리인(보호자)").name(n.ko_name("guardian"))(f"   관계: {relation}   ").field("연락처")
        n.phone(n.family_phone())("\n")
        if n.chance(0.4):
            n.field("대리인 주소").address()("\n")
        n("대리인 서명 사유: ", n.pick(("환자가 미성년자임", "환자의 의식 저하", "환자 위임")), "\n")
    n("\n").date(day, n.pick(("full", "full", "short")))("\n")


def _operation(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.header(n.pick(_HOSPITALS), n.pick(("수 술 기 록 지", "OPERATION RECORD")))
    n.field("Patient").name(n.patient() if n.chance(0.6) else n.en_name("patient-en", korean=True))
    n("  ").field("Hosp No").mrn()("  ").field("Date").date(day, n.pick(("full", "en")))("\n")
    n(f"Pre-op Dx: {dx[1]}\nPost-op Dx: same\nOperation: laparoscopic procedure\n")
    n.field("Surgeon").name(n.ko_name("surgeon") if n.chance(0.5) else n.en_name("surgeon-en", korean=True))("\n")
    n.field("Assistant").name(n.ko_name("assistant"))(", ").name(n.ko_name("assistant2"))("\n")
    n.field("Anesthesia").__call__("GA by ").name(n.ko_name("anesthesiologist"))("\n")
    n.field("Scrub nurse").name(n.ko_name("scrub"))("\n")
    n("Findings: 담낭벽 비후, 주위 유착 심함.\nProcedure: 통상적 방법으로 4-port 삽입 후 박리 시행함. EBL minimal.\n")
    n("Specimen: 조직 병리 의뢰\n집도의 서명: ").name(n.ko_name("surgeon"))("\n")


def _radiology(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n(n.pick(("[판독소견서]", "영상의학과 판독지", "RADIOLOGY REPORT")), "\n")
    n.field("성명").name(n.patient())(" (").mrn()(")  ").age(age, n.pick(("세", "Y", "yo")))(f"/{n.person['sex']}\n")
    n.field("검사일").date(day, "full")("  ").field("의뢰과").__call__(n.pick(_DEPTS))("  ")
    n.field("의뢰의").name(n.ko_name("referrer"))("\n")
    n("Exam: Chest PA / CT abdomen\nComparison: ").date(day - dt.timedelta(days=n.rng.randint(30, 400)), "any")("\n")
    n("Findings:\n  No active lung lesion. Heart size is within normal limit.\n  Mild fatty liver.\n")
    n("Conclusion: No acute abnormality.\n\n")
    n.field("판독의").name(n.ko_name("radiologist"))("  ").field("확인의").name(n.ko_name("chief"))("\n")
    n.field("판독일").date(day + dt.timedelta(days=1), n.pick(("full", "short")))("\n")


def _hp_en(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    patient = n.en_name("patient-en", korean=True)
    n("ADMISSION H&P\n").name(patient)(", ").mrn()(", DOB ")
    born = n.person["birth_date"]
    assert isinstance(born, dt.date)
    n.date(born, "en")("\n\nChief complaint: fever and RUQ pain for 3 days\n")
    n("HPI: ").age(age, n.pick(("-year-old", " yo", " y/o")))(f" {'man' if n.person['sex'] == 'M' else 'woman'} ")
    n("admitted on ").date(day, "en")(f" with {dx[1]}. History obtained from the patient and ")
    n.name(n.en_name("family"))(f" ({n.pick(('daughter', 'son', 'wife', 'husband', 'caregiver'))}).\n")
    n("PMH: HTN, DM\nSocial: lives at ").address()(", phone ").phone()("\n")
    n.labs()
    n("Assessment/Plan: admit to ward, IV antibiotics, surgery consult.\n\n")
    n.name(n.en_name("author"))(n.pick((", MD", " MD", ", PGY-2", "")))("\n")
    n("Discussed with ").name(n.en_name("attending"))(" (attending).\n")


def _consult_en(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n("CONSULTATION NOTE\nRequested by: ").name(n.en_name("requester"))("\nConsultant: ").name(n.en_name("consultant"))
    n("\nDate: ").date(day, n.pick(("en", "full")))("\n\n")
    n("Thank you for asking us to see ").name(n.en_name("patient-en", korean=True))(", a ")
    n.age(age, "-year-old")(f" with {dx[1]}.\n")
    n("Seen with ").name(n.en_name("fellow"))(" today. ")
    n("We reviewed the CT from ").date(day - dt.timedelta(days=n.rng.randint(1, 9)), "en")(".\n")
    n("Recommendations:\n 1. Continue current antibiotics\n 2. Repeat labs on ").date(day + dt.timedelta(days=2), "en")
    n("\n 3. Page ").name(n.en_name("consultant"))(" with questions (ext. ", str(n.rng.randint(1000, 9999)), ")\n")


def _letter_en(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    gp = n.en_name("gp")
    n(n.pick(_HOSPITALS), "\nDepartment of Medicine\n\n").date(day, "en")("\n\nDear ")
    n(n.pick(("Dr ", "Dr. ", "")))
    n.name(gp if n.chance(0.5) else gp.split(" ")[1])(",\n\n")
    n("Re: ").name(n.en_name("patient-en", korean=True))(", born ")
    born = n.person["birth_date"]
    assert isinstance(born, dt.date)
    n.date(born, "en")(", hospital number ").mrn()("\n\n")
    n("I saw your patient in clinic today. She/he was admitted from ").date(day - dt.timedelta(days=9), "en")
    n(" to ").date(day - dt.timedelta(days=3), "en")(f" with {dx[1]} and has recovered well.\n")
    n("Please arrange a repeat blood test in two weeks. Her/his next appointment is on ").date(
        day + dt.timedelta(days=28), "en"
    )
    n(".\n\nYours sincerely,\n\n").name(n.en_name("author"))("\nConsultant Physician\ncc: ").name(n.en_name("cc"))("\n")


def _mixed(n: _Note, day: dt.date, age: int, dx: tuple[str, str]) -> None:
    n.date(day, "any")(" ").__call__(n.pick(("ward round", "회진", "AM round")))(" - ").name(n.ko_name("doctor"))("\n")
    n("Pt ").name(n.patient())(" ").age(age, n.pick(("/", "세/")))(f"{n.person['sex']}  #").mrn()("\n")
    n(f"{dx[1]} 로 입원 중. fever subsided since ").date(day - dt.timedelta(days=2), "short")(".\n")
    n.labs()
    n("보호자(").__call__(n.pick(_RELATIONS))(") ").name(n.ko_name("guardian"))(" 에게 설명함. ")
    n("tel ").phone(n.family_phone())("\n")
    if n.chance(0.5):
        n("email로 결과지 송부 요청: ").email()("\n")
    n("plan: f/u CBC ").date(day + dt.timedelta(days=1), "short")(", 퇴원 고려\n")


_RENDER: dict[str, Callable[[_Note, dt.date, int, tuple[str, str]], None]] = {
    "discharge": _discharge, "progress": _progress, "nursing": _nursing, "referral": _referral, "reply": _reply,
    "consent": _consent, "operation": _operation, "radiology": _radiology, "hp_en": _hp_en,
    "consult_en": _consult_en, "letter_en": _letter_en, "mixed": _mixed,
}  # fmt: skip


def make_ward_corpus(n_docs: int, seed: int) -> list[LabelledDoc]:
    """n_docs notes of the ward family cycling through WARD_KINDS, one synthetic patient each."""
    if n_docs < 0:
        raise InputError(f"n_docs must be >= 0, got {n_docs}")
    rng = random.Random(f"ward-{seed}")
    np_rng = np.random.default_rng([seed, 17])
    births = np.array(
        [np.datetime64("1920-01-01") + rng.randrange(365 * 100) for _ in range(n_docs)], dtype="datetime64[D]"
    )
    sex = np.array([rng.choice("MF") for _ in range(n_docs)])
    hospitals = tuple(HOSPITAL_REGION_WEIGHTS)
    people: list[dict[str, object]] = []
    for h, hospital in enumerate(hospitals):
        rows = np.arange(h, n_docs, len(hospitals))
        if rows.size:
            table = generate_identities(
                rows.size, np_rng, region_weights=HOSPITAL_REGION_WEIGHTS[hospital], birth_dates=births[rows],
                sex=sex[rows], hospital_code=hospital,
            )  # fmt: skip
            people.extend(table.to_pylist())
    docs = []
    for i, person in enumerate(people):
        born = person["birth_date"]
        assert isinstance(born, dt.date)
        first = max(_FIRST_VISIT, born + dt.timedelta(days=60))
        day = first + dt.timedelta(days=rng.randrange(max((_LAST_VISIT - first).days, 1)))
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        kind = WARD_KINDS[i % len(WARD_KINDS)]
        note = _Note(rng, person)
        _RENDER[kind](note, day, age, _DX[rng.randrange(len(_DX))])
        spans = [Span(*s) for s in note.spans]
        docs.append(LabelledDoc(f"ward-{seed}-{i:05d}", kind, "".join(note.buf), spans))
    return docs
