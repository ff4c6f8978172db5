"""The airlock's automatic output rules as data: each rule's id, severity and plain Korean/English message, and the
thresholds the checks use (a site may override them; the small-cell floor always comes from `dari.disclosure`).

Severity `block`: the file never leaves the site, whatever the checkers decide (the researcher fixes the code and
submits again). Severity `review`: shown to the two output checkers, who decide.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["block", "review"]


class OutputRule(BaseModel):
    """One automatic check: its id, how serious a finding is, and what it tells a checker (ko, en)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    severity: Severity
    ko: str
    en: str


def _rules(*rows: tuple[str, Severity, str, str]) -> dict[str, OutputRule]:
    return {r[0]: OutputRule(id=r[0], severity=r[1], ko=r[2], en=r[3]) for r in rows}


RULES: dict[str, OutputRule] = _rules(
    (
        "file_type",
        "block",
        "허용되지 않는 파일 형식입니다",
        "file type not allowed (csv, png, svg, html, md, txt only)",
    ),
    ("type_mismatch", "block", "확장자와 실제 내용이 다릅니다", "the file's content does not match its extension"),
    ("small_cell", "block", "기관 최소 셀 기준 미만의 집계가 있습니다", "a count below the site's minimum cell size"),
    (
        "row_level",
        "block",
        "행 수가 코호트 규모에 가까워 개인 단위 자료로 보입니다",
        "row count close to the cohort's: row-level data",
    ),
    ("identifier_column", "block", "식별자로 보이는 열이 있습니다", "a column that looks like an identifier"),
    (
        "identifier_value",
        "block",
        "주민등록번호·전화번호 형태의 값이 있습니다",
        "a value shaped like a resident number or phone number",
    ),
    (
        "small_cell_maybe",
        "review",
        "수치 열에 최소 셀 기준 미만의 값이 있습니다(집계인지 확인)",
        "small values in a numeric column (check whether they are counts)",
    ),
    ("day_date", "review", "일 단위 날짜가 있습니다", "dates at day precision"),
    (
        "wide_table",
        "block",
        "열이 너무 많아 행을 열로 옮긴 표로 보입니다",
        "a wide table that may carry rows in its columns",
    ),
    (
        "png_chunk",
        "block",
        "PNG에 허용되지 않거나 큰 부가 청크가 있습니다",
        "PNG with an unknown or large ancillary chunk",
    ),
    ("png_trailing", "block", "PNG 끝(IEND) 뒤에 데이터가 있습니다", "data after the PNG's end (IEND)"),
    ("png_pixels", "block", "PNG의 압축 데이터가 픽셀 크기와 맞지 않습니다", "PNG data does not match its pixel size"),
    (
        "image_dense",
        "review",
        "그림의 픽셀이 거의 압축되지 않아 데이터를 담았을 수 있습니다",
        "image pixels barely compress: they may carry data",
    ),
    ("svg_script", "block", "SVG에 스크립트나 이벤트 처리기가 있습니다", "SVG with a script or event handler"),
    (
        "svg_embedded",
        "block",
        "SVG에 내장 데이터(data URI, 외부 참조, 큰 텍스트)가 있습니다",
        "SVG with embedded data (data URI, external reference, large text)",
    ),
    ("html_script", "block", "HTML에 스크립트나 내장 객체가 있습니다", "HTML with a script or embedded object"),
    ("html_data_uri", "block", "HTML에 data URI가 있습니다", "HTML with a data URI"),
    ("check_error", "block", "파일을 검사하지 못했습니다", "the file could not be checked"),
)


class CheckSettings(BaseModel):
    """Thresholds of the automatic checks (the small-cell floor is not here: it is the site's `DisclosureRules`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    row_level_ratio: float = Field(default=0.5, gt=0, le=1, description="rows ≥ ratio × cohort persons: row-level")
    row_level_min_rows: int = Field(default=100, ge=1, description="tables with fewer rows are never row-level")
    max_columns: int = Field(default=50, ge=2, description="more columns than this: a wide table")
    max_png_text_bytes: int = Field(default=1024, ge=0, description="total tEXt/iTXt/zTXt bytes a PNG may carry")
    dense_ratio: float = Field(default=0.9, gt=0, description="compressed/raw pixel bytes at or above: dense image")
    dense_min_raw_bytes: int = Field(default=65_536, ge=0, description="smaller images are never called dense")
    max_svg_text_chars: int = Field(default=20_000, ge=0, description="text content an SVG may carry")
    max_table_rows: int = Field(default=200_000, ge=1, description="rows read per table (the rest is not read)")


#: File kinds the airlock lets out, with the extensions each may carry.
ALLOWED_KINDS: dict[str, frozenset[str]] = {
    "csv": frozenset({".csv"}),
    "png": frozenset({".png"}),
    "svg": frozenset({".svg"}),
    "html": frozenset({".html", ".htm"}),
    "md": frozenset({".md", ".markdown"}),
    "txt": frozenset({".txt", ".log"}),
}

#: PNG chunks a chart may carry (critical ones, and ancillary ones that hold no free data).
PNG_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"pHYs", b"sRGB", b"gAMA", b"cHRM", b"bKGD", b"tRNS", b"sBIT", b"iCCP"}
)
PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"iTXt", b"zTXt"})

# Column names that say "this is a count" (English and Korean): their small values are small cells.
COUNT_HEADER = re.compile(
    r"(^|[_\s-])(n|count|counts|cnt|freq|frequency|persons|patients|subjects|people|events|cases|num|number)"
    r"($|[_\s-])|(환자|대상자|인원|건수|명수|빈도)|(^|_)n_",
    re.IGNORECASE,
)
# Column names of identifiers: person/patient ids, MRN, resident numbers, phones, names (English and Korean).
IDENTIFIER_HEADER = re.compile(
    r"(person|patient|subject|visit_occurrence|member|beneficiary)[_\s-]?(id|no|number|key)|^(pid|mrn|rrn|ssn|id)$"
    r"|medical[_\s-]?record|resident|phone|mobile|e-?mail|address|(^|_)name$|주민|등록번호|환자번호|연락처|전화|성명|이름|주소",
    re.IGNORECASE,
)
RRN_VALUE = re.compile(r"(?<!\d)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-?[1-8]\d{6}(?!\d)")
PHONE_VALUE = re.compile(r"(?<!\d)0(1[016789]|2|[3-6][1-5])[-. ]?\d{3,4}[-. ]?\d{4}(?!\d)")
DAY_DATE = re.compile(r"^\s*(19|20)\d{2}[-/.](0[1-9]|1[0-2])[-/.](0[1-9]|[12]\d|3[01])([ T].*)?$")
COMPACT_DATE = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
DATE_HEADER = re.compile(r"date|_dt$|datetime|time|일자|날짜|생년월일", re.IGNORECASE)
INTEGER = re.compile(r"^\s*-?\d+\s*$")
# Numeric columns that are not counts (ages, years, codes …): their small values are not small cells.
NOT_COUNT_HEADER = re.compile(
    r"age|year|month|week|day|hour|rank|order|index|idx|id$|code|concept|score|grade|stage|band|group|percent|pct|"
    r"rate|ratio|mean|median|sd|min|max|나이|연령|연도|년|월|주|일|순위|코드|등급|단계|비율|평균",
    re.IGNORECASE,
)
