"""Korean addresses (도로명 and 지번) anchored on gazetteer place names, plus romanised road addresses."""

from __future__ import annotations

import re
from functools import cache

from dari.privacy.text.lexicon import lexicon, trie_alternation
from dari.privacy.text.model import Span

_ADMIN = r"[가-힣]{1,8}(?:특별시|광역시|특별자치시|특별자치도|도|시|군|구)"
_DONG = r"[가-힣]{1,8}\d{0,2}(?:동|리|가)(?:\d가)?"
_TOWN = r"[가-힣]{1,8}(?:읍|면)"
_ROAD = r"[가-힣0-9]{1,15}(?:로|길)"
_NUM = r"(?:산[ ]?)?\d{1,5}(?:-\d{1,5})?"
_DETAIL = (
    r"(?:,?[ ]?(?:[가-힣A-Za-z0-9]{1,15}(?:아파트|빌라|맨션|오피스텔|타운|빌딩)[ ]?)?"
    r"(?:\d{1,4}동[ ]?\d{1,5}호|\d{1,3}층(?:[ ]?\d{1,5}호)?|\d{1,5}호))?"
)
_REF = r"(?:[ ]?\([가-힣0-9]{1,10}(?:동|가|리|읍|면)(?:,[ ]?[가-힣A-Za-z0-9 ]{1,20})?\))?"
_EN_ADDRESS = (
    r"\b\d{1,5}(?:-\d{1,4})?,?[ ][A-Z][a-z]+(?:-[a-z]+)*-(?:ro|gil)(?:[ ]?\d{1,3}(?:beon-)?gil)?"
    r",[ ][A-Z][a-z]+(?:-[a-z]+)*-(?:gu|si|gun)(?:,[ ][A-Z][a-z]+(?:-(?:si|do))?)?\b"
)


@cache
def _regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    lex = lexicon()
    start = trie_alternation(lex.sido_names + lex.sigungu_names)
    korean = re.compile(
        rf"(?<![가-힣])(?:{start})(?![가-힣])(?:[ ]{_ADMIN}(?![가-힣]))*"
        rf"(?P<tail>(?:[ ]{_TOWN})?(?:[ ]{_DONG})?[ ](?:{_ROAD}|{_DONG}|{_TOWN})[ ]?{_NUM}(?:번지)?(?![\d가-힣])"
        rf"{_DETAIL}{_REF}"
        rf"|(?:[ ]{_TOWN})?[ ](?:{_DONG}|{_TOWN})(?![가-힣]))?"
    )
    return korean, re.compile(_EN_ADDRESS)


def find_addresses(text: str) -> list[Span]:
    """Addresses down to 동/읍/면, road or lot number; a bare 시/도 or 시/군/구 is left alone."""
    korean, english = _regexes()
    out = []
    for m in korean.finditer(text):
        value = m.group(0)
        # A region name alone (서울 거주) is coarse enough to keep; a street or 동 is not.
        if m.group("tail") is None and not re.search(r"[ ][가-힣]+(?:동|리|가|읍|면)$", value):
            continue
        out.append(Span(m.start(), m.end(), "ADDRESS"))
    out.extend(Span(m.start(), m.end(), "ADDRESS") for m in english.finditer(text))
    return out
