"""English-script names without a title: the forms clinical notes and letters write them in.

Each form is a public convention of English (and romanised Korean) clinical writing, not one note template:
a name before a credential (`Jane Roe, MD`, `John Doe PGY-2`), before a relation in brackets (`Mary Roe (wife)`),
before an age (`John Doe, a 45-year-old`), before a record number in a header (`Jane Roe, 12345678, DOB`), after a
salutation or a letter's closing (`Dear Roe,`, `Re:`, `Yours sincerely,` + name line), after `discussed/seen with`,
and romanised Korean names given-name first (`Min-jun Kim`) or in passport order (`KIM, MIN JUN`, `Kim, Minjun`).
A title-case candidate needs one word in the English given-name/surname lexicons or a romanised Korean surname,
and no word of the not-a-name list, so `Internal Medicine, MD` stays.
"""

from __future__ import annotations

import re
from functools import cache

from dari.privacy.text.lexicon import ROMAN_GIVEN, lexicon
from dari.privacy.text.model import Span

_T = r"(?:[A-Z][a-z]+(?:['’\-][A-Za-z][a-z]+)*|[A-Z]['’][A-Z][a-z]+)"  # Smith, O'Neil, Jin-seo, Smith-Jones
_U = r"[A-Z]{2,}(?:['’\-][A-Z]+)?"  # SMITH, O'NEIL
_NAME = rf"(?:{_T}(?:[ ](?:[A-Z]\.|{_T})){{0,2}}|{_U}(?:[ ](?:[A-Z]\.|{_U})){{0,2}})"
_PASSPORT = rf"(?:{_U},[ ]{_U}(?:[ ]{_U})?|{_T},[ ]{_T})"  # KIM, MIN JUN; Kim, Minjun
_ANY = rf"(?P<n>{_PASSPORT}|{_NAME})"
_CREDENTIALS = r"MD|M\.D\.|RN|R\.N\.|PhD|DO|NP|PA-C|PGY-?\d|MBBS|FRCPC?|FRCS|FACP|FACS|DDS|PharmD|MSN|BSN|CNS"
_RELATIONS = (
    r"wife|husband|spouse|son|daughter|mother|father|mom|dad|sister|brother|caregiver|guardian|partner|friend"
    r"|niece|nephew|grandson|granddaughter|grandmother|grandfather|aunt|uncle|neighbou?r|carer|next of kin|NOK"
)
_CLOSINGS = r"Yours sincerely|Yours faithfully|Yours truly|Sincerely(?: yours)?|(?:Kind|Best|Warm)? ?[Rr]egards|Thanks"


@cache
def _forms() -> tuple[re.Pattern[str], ...]:
    return (
        re.compile(rf"(?<![\w.\-']){_ANY},?[ ](?:{_CREDENTIALS})(?![A-Za-z])"),
        re.compile(rf"(?<![\w.\-']){_ANY}[ ]?\((?i:{_RELATIONS})\b"),
        re.compile(rf"(?<![\w.\-']){_ANY},[ ](?:an?[ ])?\d{{1,3}}[ \-]?(?:year|yr|yo\b|y/o|y\.o\.|-?month)"),
        re.compile(rf"(?:^|(?<=\n)|(?<=[:|]))[ \t]*{_ANY},[ ]?(?:MRN[ :]*)?\d{{6,12}}\b"),
        re.compile(rf"(?<![A-Za-z])(?:Dear|Re:|RE:|Attn:|Attention:|cc:|CC:|Cc:|To:)[ ]+{_ANY}"),
        re.compile(rf"(?<![A-Za-z])(?:{_CLOSINGS}),?[ \t]*\n(?:[ \t]*\n)?[ \t]*{_ANY}"),
        re.compile(rf"(?i:discussed|spoke|seen|reviewed|talked|met|consulted|accompanied)[ ](?:with|by)[ ]{_ANY}"),
    )


_CAPITAL = re.compile(r"[A-Z][a-z]|[A-Z]{2}")
_ANCHORS = tuple(
    re.compile(a)
    for a in (
        rf"(?:{_CREDENTIALS})(?![A-Za-z])",
        r"\(",
        r"\d[ \-]?(?:year|yr|yo|y/o|y\.o\.|-?month)",
        r"\d{6}",
        r"Dear|Re:|RE:|Attn|Attention:|[Cc][Cc]:|To:",
        rf"(?:{_CLOSINGS}),?[ \t]*\n",
        r"(?i:with|by)[ ]",
    )
)
_STRONG_FORMS = (0, 1, 5)  # credential after, relation after, closing before
_SALUTATION = 4  # Dear Roe, / Re: ROE, JANE: one word is enough
_ROMAN_HYPHEN = re.compile(r"(?<![\w\-'])([A-Z][a-z]+-[a-z]+|[A-Z]+-[A-Z]+)[ ]([A-Z][a-z]+|[A-Z]{2,})(?![\w\-])")
_ROMAN_PASSPORT = re.compile(
    r"(?<![\w\-'])([A-Z]{2,}|[A-Z][a-z]+),[ ]([A-Z]+(?:[ \-][A-Z]+)?|[A-Z][a-z]+(?:-[a-z]+)?)\b"
)


def _name_part(name: str, *, strong: bool | str = False) -> tuple[int, int] | None:
    """(start, end) inside `name` once words that are never names are cut from either end, if the rest has
    name evidence: one word in a name lexicon (or a romanised Korean surname or hyphenated given name); with
    `strong` (before a credential or a relation, after a letter's closing) two or more words are enough."""
    from dari.privacy.text.tagger import lexicons

    lx, lex = lexicons(), lexicon()
    words = [(m.start(), m.end()) for m in re.finditer(r"[^ ,]+", name)]

    def never(span: tuple[int, int]) -> bool:
        w = name[span[0] : span[1]].rstrip(".")
        return w in lex.en_not_names or w.title() in lex.en_not_names or w.lower() in lex.en_medical

    while words and never(words[0]):
        words.pop(0)
    while words and never(words[-1]):
        words.pop()
    if not words or any(never(w) for w in words):
        return None
    if strong and len(words) >= 2:  # Jane Roe, MD: the position is evidence enough
        return words[0][0], words[-1][1]
    if strong == "salutation" and name[1:].islower():  # Dear Roe, (but not cc: GP)
        return words[0][0], words[-1][1]
    for a, b in words:
        w = name[a:b].rstrip(".")
        t = w.title()
        if t in lx["en_given"] or t in lx["en_surnames"] or w.upper() in lex.roman_surnames_all:
            return words[0][0], words[-1][1]
        if "-" in w and ROMAN_GIVEN.fullmatch(w) is not None:
            return words[0][0], words[-1][1]
    return None


def _roman_korean(text: str) -> list[Span]:
    """Min-jun Kim, JIN-SEO HAN (given name first, hyphenated), KIM, MIN JUN and Kim, Minjun (passport order)."""
    lex = lexicon()
    out = []
    for m in _ROMAN_HYPHEN.finditer(text):
        given, surname = m.group(1), m.group(2)
        if surname.upper() in lex.roman_surnames_all and ROMAN_GIVEN.fullmatch(given) is not None:
            out.append(Span(m.start(), m.end(), "PERSON"))
    for m in _ROMAN_PASSPORT.finditer(text):
        surname, given = m.group(1), m.group(2)
        parts = [p for p in re.split(r"[ \-]", given) if p]
        if surname.isupper() != given.replace("-", "").replace(" ", "").isupper():
            continue
        given_ok = len(parts) <= 2 and all(ROMAN_GIVEN.fullmatch(p) for p in parts)
        if surname.upper() in lex.roman_surnames_all and given_ok:
            out.append(Span(m.start(), m.end(), "PERSON"))
    return out


def find_english_name_forms(text: str) -> list[Span]:
    """English-script names in the conventional positions listed in the module docstring."""
    if _CAPITAL.search(text) is None:
        return []  # a note in Hangul only: no English name to find
    out = _roman_korean(text)
    for k, rx in enumerate(_forms()):
        if _ANCHORS[k].search(text) is None:
            continue  # each form needs its anchor word; looking for it first is much cheaper than the form
        for m in rx.finditer(text):
            strong = "salutation" if k == _SALUTATION and m.group("n")[-1:] != "." else k in _STRONG_FORMS
            part = _name_part(m.group("n"), strong=strong)
            if part is not None:
                out.append(Span(m.start("n") + part[0], m.start("n") + part[1], "PERSON"))
    return out
