"""The report as data: sections of paragraphs, tables and figure references, in one language.

Both renderers (HTML, PDF) read this record, so the two files always say the same thing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dari.reports.i18n import Lang, t


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Table(_Frozen):
    """A table of preformatted cells; `emphasis` marks rows to set in bold (the pooled row)."""

    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    emphasis: tuple[int, ...] = ()


class FigureRef(_Frozen):
    """A figure by key (see `dari.reports.figures`) with its caption."""

    key: str
    caption: str


class Section(_Frozen):
    """One numbered part of the report; `id` is its HTML anchor and what the TRIPOD+AI table points to."""

    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()  # set apart in red: a target missed, a decision the reader must not overlook
    bullets: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[FigureRef, ...] = ()


class ValidationReport(_Frozen):
    """The whole report in one language."""

    lang: Lang
    title: str
    subtitle: str
    generated_at: str
    code_version: str
    sections: tuple[Section, ...]
    min_cell: int
    model: str = ""  # "name vX" (or the hash's start): the footer of every PDF page names it
    run_id: str = ""

    @property
    def footer(self) -> str:
        """What every PDF page's footer says before the page number."""
        return f"{self.model} · {t('run', self.lang)} {self.run_id} · dari {self.code_version} · {self.generated_at}"

    def section(self, section_id: str) -> Section:
        """The section with this anchor."""
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)
