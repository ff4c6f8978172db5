"""Pattern detectors: RRN, phone, e-mail, record numbers, dates and ages over 89, each validated."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from dari.errors import InputError
from dari.kr.phone import is_valid_phone
from dari.kr.rrn import parse_rrn
from dari.privacy.text.lexicon import alternation, lexicon
from dari.privacy.text.model import Span

AGE_OVER = 89  # HIPAA Safe Harbor: ages above 89 identify; younger ages stay
POST_2020_RRN = dt.date(2020, 10, 1)  # numbers issued from here on carry a random last digit
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec")
# Title case (March, Mar) or all capitals as EMR exports write them (MARCH, MAR); never lower case ("may").
_MONTHS = "|".join([f"{m}[a-z]*" for m in _MONTH_NAMES] + [f"{m.upper()}[A-Z]*" for m in _MONTH_NAMES])
_SEP = r"[ ]?-[ ]?|[ ]"


@cache
def _regexes() -> dict[str, re.Pattern[str]]:
    lex = lexicon()
    return {
        "rrn": re.compile(r"(?<![\d\-])(\d{6})(-|[ ]?-[ ]?|[ ])?([0-9][0-9*xX●]{6})(?![\d*●])"),
        "rrn_cue": re.compile(rf"(?:{alternation(lex.cue('rrn', 'cues'))})\W{{0,6}}$"),
        "phone": re.compile(
            r"(?<![\d+\-])(?:\+82[ \-.]?(?:\(0\)[ ]?)?0?\d{1,2}|\(0\d{1,2}\)|0\d{1,2})"
            r"[ \-.)]?[ ]?\d{3,4}[ \-.]?\d{4}(?![\d\-])"
        ),
        "email": re.compile(
            r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
        ),
        "mrn": re.compile(
            rf"(?<!주민)(?<!외국인)(?:{alternation(lex.cue('mrn', 'cues'))})[ ]?(?:[:：#=]|No\.?)?[ ]{{0,4}}"
            r"(?P<v>(?:[A-Z]{1,2}-?)?\d{5,12})(?![\d\-])"
        ),
        # 2024-03-05, 2024.3.5, and the official Korean style 2024. 3. 5. with its closing dot
        "date_ymd": re.compile(
            r"(?<![\d.\-/])((?:19|20)\d{2})([-/.])[ ]?(\d{1,2})\2[ ]?(\d{1,2})(?![\d])(?!\.\d)"
            r"(?:(?<=\.[ ]\d)\.|(?<=\.[ ]\d\d)\.)?"
        ),
        "date_ko": re.compile(r"(?<!\d)(?:((?:19|20)?\d{2})년[ ]?)?(\d{1,2})월[ ]?(\d{1,2})일"),
        "date_ym_ko": re.compile(r"(?<!\d)((?:19|20)\d{2})년[ ]?(\d{1,2})월(?![ ]?\d)"),
        "date_us": re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})/((?:19|20)\d{2}|\d{2})(?![\d/])"),
        # 24.3.5, 23.05.01, 24/3/5: a two-digit year first (03/05/24 is read as US month/day/year instead)
        "date_yymmdd": re.compile(r"(?<![\d./])'?(\d{2})([./])(\d{1,2})\2(\d{1,2})(?![\d/])(?!\.\d)"),
        "date_en": re.compile(
            rf"\b(?:(?:{_MONTHS})\.?[ ]\d{{1,2}}(?:st|nd|rd|th)?(?:,?[ ](?:19|20)\d{{2}})?"
            rf"|\d{{1,2}}[ ](?:{_MONTHS})\.?,?[ ](?:19|20)\d{{2}}"
            rf"|\d{{1,2}}-(?:{_MONTHS})(?:-(?:(?:19|20)\d{{2}}|\d{{2}}))?"  # 05-MAR-2024, 5-Mar-24, 16-Apr (EMR)
            rf"|(?:{_MONTHS})\.?,?[ ](?:19|20)\d{{2}})\b"
        ),
        "date_md": re.compile(r"(?<![\d/.])(1[0-2]|0?[1-9])/(3[01]|[12]\d|0?[1-9])(?![\d/])"),
        # no decimal point, thousands separator, sign, slash or letter next to it (12,500,000 or 1.0000001 stay)
        "long_digits": re.compile(r"(?<![\w.,+\-/])\d{7,12}(?![\w/]|[.,\-]\d)"),
        "date_compact": re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?!\d)"),
        "date_yymmdd6": re.compile(r"(?<![\d\-])(\d{2})(\d{2})(\d{2})(?![\d\-])"),
        "md_context": re.compile(rf"(?:{alternation(lex.cue('date', 'context'))})", re.IGNORECASE),
        "birth_cue": re.compile(rf"(?:{alternation(lex.cue('date', 'birth_cues'))})\W{{0,4}}$"),
        "compact_cue": re.compile(rf"(?:{alternation(lex.cue('date', 'compact_cues'))})\W{{0,4}}$"),
        "age": re.compile(
            r"(?<![\d.])(\d{2,3})(?:[ ]?세|[ ]?살|-year-old|[ ]years?[ \-]old|[ ]?y/o|[ ]?yo\b|[ ]?yrs?\b"
            r"|Y(?=[/)\s,.]|$)|[ ]?Y/?[MF]\b)"
        ),
    }


def _valid_date(year: int | None, month: int, day: int) -> bool:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    if year is None:
        return True
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _full_year(yy: str) -> int:
    """Two-digit years pivot at the current year: 23 -> 2023, 51 -> 1951."""
    y = int(yy)
    if len(yy) == 4:
        return y
    return 2000 + y if y <= dt.date.today().year % 100 + 1 else 1900 + y


def find_rrns(text: str) -> list[Span]:
    """주민등록번호 with or without hyphen, or masked after the sex digit; date-checked, checksum-aware."""
    rx = _regexes()
    spans = []
    for m in rx["rrn"].finditer(text):
        front, sep, tail = m.group(1), m.group(2) or "", m.group(3)
        masked = not tail.isdigit()
        if masked and (not sep or not all(c in "*xX●" for c in tail[1:])):
            continue
        g = tail[0] if tail[0].isdigit() else "1"
        try:
            parsed = parse_rrn(front + g + ("000000" if masked else tail[1:]))
        except InputError:
            continue
        cue = rx["rrn_cue"].search(text, max(0, m.start() - 30), m.start()) is not None
        # A hyphenated YYMMDD-G number with a real date is the RRN shape itself; reissued and post-2020
        # numbers fail the checksum, so only bare 13-digit runs need the checksum or a cue.
        ok = masked or parsed.check_digit_valid or parsed.birth_date >= POST_2020_RRN or cue
        ok = ok or (sep != "" and tail[0] in "12345678")
        if ok:
            spans.append(Span(m.start(), m.end(), "RRN"))
    return spans


def find_phones(text: str) -> list[Span]:
    """Korean mobile, landline (area code) and 070 numbers, national or +82, validated by dari.kr.phone."""
    out = []
    for m in _regexes()["phone"].finditer(text):
        value = m.group(0)
        if is_valid_phone(value):
            out.append(Span(m.start(), m.end(), "PHONE"))
    return out


def find_emails(text: str) -> list[Span]:
    """E-mail addresses."""
    return [Span(m.start(), m.end(), "EMAIL") for m in _regexes()["email"].finditer(text)]


def find_mrns(text: str) -> list[Span]:
    """Hospital record numbers after a cue (등록번호, MRN, 환자번호, Chart No ...)."""
    out = [Span(m.start("v"), m.end("v"), "MRN") for m in _regexes()["mrn"].finditer(text)]
    # #10100883: a long number after '#' is a record number (POD#1, #3 are too short to be one)
    out += [Span(m.start(1), m.end(1), "MRN") for m in re.finditer(r"(?<![\w#])#[ ]?(\d{6,12})(?!\d)", text)]
    # Recall first (HIPAA: "any other unique identifying number"): a bare run of 7-12 digits in a note is an ID
    # (record, visit, accession, account number) unless it is a date; phones and RRNs outrank it when they overlap.
    for m in _regexes()["long_digits"].finditer(text):
        value = m.group()
        ymd = (int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 8 and value[:2] in ("19", "20") and _valid_date(*ymd):
            continue
        out.append(Span(m.start(), m.end(), "MRN"))
    return out


def _md_has_context(text: str, start: int, end: int) -> bool:
    before, after = text[max(0, start - 12) : start], text[end : end + 12]
    if re.search(r"(?:BP|혈압|B/P)\s*[:：]?\s*$", before):
        return False
    rx = _regexes()["md_context"]
    # 판독일: 11/3, 검사일 4/23: a Korean field label ending in 일 (day) holds a date
    if re.search(r"[가-힣]일[ \t]*[:：]?[ \t]*$", before) is not None:
        return True
    if rx.search(before) is not None or rx.search(after) is not None:
        return True
    # 3/10 06:37 (a record's timestamp) and a line that starts with the date (# 3/5, - 3/5 회진)
    return (
        re.match(r"[ ]\d{1,2}:\d{2}(?!\d)", after) is not None
        or re.search(r"(?:^|\n)[ \t#*\-\[(]*$", before) is not None
    )


def find_dates(text: str) -> list[Span]:
    """Dates in ISO, dotted, slashed, Korean, US, YY.M.D and English forms (also to the month); bare M/D in context."""
    rx = _regexes()
    out: list[Span] = []
    for m in rx["date_ymd"].finditer(text):
        if _valid_date(int(m.group(1)), int(m.group(3)), int(m.group(4))):
            out.append(Span(m.start(), m.end(), "DATE"))
    for m in rx["date_ko"].finditer(text):
        year = _full_year(m.group(1)) if m.group(1) else None
        if _valid_date(year, int(m.group(2)), int(m.group(3))):
            out.append(Span(m.start(), m.end(), "DATE"))
    for m in rx["date_ym_ko"].finditer(text):
        if 1 <= int(m.group(2)) <= 12:
            out.append(Span(m.start(), m.end(), "DATE"))
    for m in rx["date_us"].finditer(text):
        if _valid_date(_full_year(m.group(3)), int(m.group(1)), int(m.group(2))):
            out.append(Span(m.start(), m.end(), "DATE"))
    for m in rx["date_yymmdd"].finditer(text):
        if _valid_date(_full_year(m.group(1)), int(m.group(3)), int(m.group(4))):
            out.append(Span(m.start(), m.end(), "DATE"))
    out.extend(Span(m.start(), m.end(), "DATE") for m in rx["date_en"].finditer(text))
    for m in rx["date_compact"].finditer(text):
        cue = rx["compact_cue"].search(text, max(0, m.start() - 20), m.start())
        if cue and _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            out.append(Span(m.start(), m.end(), "DATE"))
    # 생년월일 570302: a bare YYMMDD only right after a date-of-birth cue (elsewhere six digits are anything)
    for m in rx["date_yymmdd6"].finditer(text):
        if is_birth_date(text, m.start()) and _valid_date(_full_year(m.group(1)), int(m.group(2)), int(m.group(3))):
            out.append(Span(m.start(), m.end(), "DATE"))
    for m in rx["date_md"].finditer(text):
        if _md_has_context(text, m.start(), m.end()):
            out.append(Span(m.start(), m.end(), "DATE"))
    return out


def is_birth_date(text: str, start: int) -> bool:
    """Whether the date at `start` follows a date-of-birth cue (생년월일:, DOB, born on …)."""
    return _regexes()["birth_cue"].search(text, max(0, start - 24), start) is not None


def find_ages(text: str) -> list[Span]:
    """Ages over 89 (92세, 92-year-old, 92Y, 92 y/o); younger ages are not identifiers."""
    out = []
    for m in _regexes()["age"].finditer(text):
        if AGE_OVER < int(m.group(1)) <= 125:
            end = m.end()
            if m.group(0)[-2:] in ("/M", "/F", "YM", "YF"):  # 93Y/M: the sex is not part of the age
                end = m.start() + m.group(0).index("Y") + 1
            out.append(Span(m.start(), end, "AGE"))
    return out
