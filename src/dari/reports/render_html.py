"""The report as one self-contained HTML file (Jinja2, autoescaped; figures inline as base64 SVG data URIs,
the Hangul font as a subset @font-face data URI)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from jinja2 import Environment, PackageLoader, select_autoescape

from dari.reports.html_fonts import font_face_css
from dari.reports.report_model import ValidationReport

_ENV = Environment(
    loader=PackageLoader("dari.reports", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(report: ValidationReport, svgs: Mapping[str, bytes]) -> str:
    """The HTML text; `svgs` maps each figure key the report references to its SVG bytes."""
    images = {k: base64.b64encode(v).decode("ascii") for k, v in svgs.items()}
    page = _ENV.get_template("validation_report.html.j2").render(r=report, images=images, font_css=FONT_SLOT)
    return embed_font(page)


FONT_SLOT = "/*dari-font*/"


def embed_font(page: str) -> str:
    """`page` with its font slot replaced by the Hangul font subset to the page's own characters."""
    return page.replace(FONT_SLOT, font_face_css(page), 1)
