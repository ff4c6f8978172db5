"""Query expansion through the Korean↔English terminology: the shipped vocabulary plus a curated table.

Every name and synonym of a concept (both languages, abbreviations included) is a *form* of the concept's group;
source concepts (KCD-8, ATC…) join the group of the standard concept they map to, and their codes are forms too
('E11' → type 2 diabetes mellitus). `data/abbreviations.csv` adds forms the vocabulary lacks. A query's words are
matched against all forms (longest run of words first, spacing and case ignored: '만성신장병' = '만성 신장병'),
and each match contributes the group's *other* forms as alternatives that search scores below the words typed.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from dari.errors import InputError
from dari.hub.search.analysis import Word, analyse_many

if TYPE_CHECKING:
    from dari.vocab import Vocabulary

ABBREVIATIONS_FILE = "abbreviations.csv"
# A query phrase is matched against forms of at most this many words.
MAX_PHRASE_WORDS = 8
# Forms of more words than this are used as keys but not as alternatives: long official names
# ('Glomerular filtration rate/1.73 sq M.predicted …') would never match a document in full anyway.
MAX_ALTERNATIVE_WORDS = 5
# At most this many alternatives per query unit, shortest first (bounds the work per query).
MAX_ALTERNATIVES = 16
_LANGUAGES = ("en", "ko")


@dataclass(frozen=True, slots=True)
class Form:
    """One way of writing a group's meaning: the text and its analysed primary terms."""

    text: str
    language: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Forms that mean the same thing: one concept (with its mapped source concepts) or one curated group."""

    label: str
    forms: tuple[Form, ...]


@dataclass(frozen=True, slots=True)
class QueryUnit:
    """A word, or a phrase found in the terminology, of the query; the unit search scores as one.

    `alternatives` are the other forms of the matched groups, each a tuple of terms that must all occur.
    """

    text: str
    start: int
    end: int
    words: tuple[Word, ...]
    groups: tuple[str, ...] = ()
    alternatives: tuple[tuple[str, ...], ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """The primary terms of the unit's words."""
        return tuple(w.term for w in self.words)


class Lexicon:
    """Forms of the terminology by key — a form's primary terms joined without spaces, so spacing and case never
    matter ('만성 신장병' = '만성신장병') — and the splitting of queries into units with their alternatives."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = tuple(groups)
        keys: dict[str, set[int]] = {}
        prefixes: set[str] = set()  # joined first words of every form: a phrase match can still grow from these
        for i, g in enumerate(self.groups):
            for f in g.forms:
                if f.terms and len(f.terms) <= MAX_PHRASE_WORDS:
                    keys.setdefault("".join(f.terms), set()).add(i)
                    prefixes.update("".join(f.terms[:k]) for k in range(1, len(f.terms) + 1))
        self._keys = {k: tuple(sorted(v)) for k, v in keys.items()}
        self._prefixes = frozenset(prefixes)

    def __len__(self) -> int:
        return len(self.groups)

    def knows(self, term: str) -> bool:
        """Whether a term is a form, or the first word(s) of one (so a typo check must leave it alone)."""
        return term in self._prefixes

    def units(self, query: str, words: Sequence[Word]) -> list[QueryUnit]:
        """Split analysed query words into units: greedy longest matches against the forms, else single words."""
        out: list[QueryUnit] = []
        i = 0
        while i < len(words):
            match: tuple[int, tuple[int, ...]] | None = None
            key = ""
            for j in range(i + 1, min(len(words), i + MAX_PHRASE_WORDS) + 1):
                key += words[j - 1].term
                if key not in self._prefixes:
                    break
                found = self._keys.get(key)
                if found:
                    match = (j, found)  # keep growing: the longest match wins
            if match is None:  # a variant of a single word may still be a form ('고혈압성' → '고혈압')
                for alias in words[i].aliases:
                    found = self._keys.get(alias.term)
                    if found:
                        match = (i + 1, found)
                        break
            j, found = match if match is not None else (i + 1, ())
            span = words[i:j]
            start, end = span[0].start, span[-1].end
            out.append(
                QueryUnit(
                    text=query[start:end],
                    start=start,
                    end=end,
                    words=tuple(span),
                    groups=tuple(self.groups[g].label for g in found),
                    alternatives=self._alternatives(found, span),
                )
            )
            i = j
        return out

    def _alternatives(self, found: Iterable[int], words: Sequence[Word]) -> tuple[tuple[str, ...], ...]:
        own = {tuple(w.term for w in words)}
        own.update((a.term,) for w in words for a in w.aliases)
        seen: set[tuple[str, ...]] = set()
        forms: list[tuple[str, ...]] = []
        for g in found:
            for f in self.groups[g].forms:
                if not f.terms or f.terms in own or f.terms in seen or len(f.terms) > MAX_ALTERNATIVE_WORDS:
                    continue
                if len(f.terms) == 1 and len(f.terms[0]) < 2:
                    continue  # 'K' for potassium would match every stray letter K
                seen.add(f.terms)
                forms.append(f.terms)
        forms.sort(key=lambda t: (len(t), t))
        return tuple(forms[:MAX_ALTERNATIVES])


def _curated_rows() -> list[tuple[str, str, str, int]]:
    """(group, language, term, line) rows of the curated table shipped in this package."""
    file = resources.files("dari.hub.search").joinpath("data").joinpath(ABBREVIATIONS_FILE)
    lines = file.read_text(encoding="utf-8").splitlines()
    body = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in body)
    out = []
    for (n, _), row in zip(body[1:], reader, strict=True):
        group, language, term = ((row.get(k) or "").strip() for k in ("group", "language", "term"))
        if not group or not term or language not in _LANGUAGES:
            raise InputError("needs group, term and language 'en' or 'ko'", file=ABBREVIATIONS_FILE, row=n)
        out.append((group, language, term, n))
    return out


def build_lexicon(vocabulary: Vocabulary, *, curated: bool = True) -> Lexicon:
    """The lexicon of a vocabulary (names, synonyms, source codes) plus, by default, the curated table."""
    raw: dict[str, list[tuple[str, str]]] = {}
    labels: dict[str, str] = {}

    def group_of(concept_id: int) -> str:
        concept = vocabulary.concept(concept_id)
        if concept.standard_concept is None:
            with contextlib.suppress(KeyError):  # an unmapped source concept keeps its own group
                concept = vocabulary.maps_to(concept_id)
        key = str(concept.concept_id)
        labels.setdefault(key, f"{concept.concept_name} / {concept.concept_name_ko}")
        return key

    for c in vocabulary.concepts:
        if c.concept_id == 0:
            continue
        key = group_of(c.concept_id)
        forms = raw.setdefault(key, [])
        forms.append((c.concept_name, "en"))
        if c.concept_name_ko:
            forms.append((c.concept_name_ko, "ko"))
        if c.standard_concept is None and c.vocabulary_id in ("KCD8", "KCD7", "ATC"):
            forms.append((c.concept_code, "en"))
    for s in vocabulary.synonyms:
        raw.setdefault(group_of(s.concept_id), []).append((s.synonym, s.language))
    if curated:
        for group, language, term, line in _curated_rows():
            if group.isdigit():
                if int(group) not in vocabulary:
                    raise InputError(f"concept_id {group} is not in the vocabulary", file=ABBREVIATIONS_FILE, row=line)
                group = group_of(int(group))
            else:
                labels.setdefault(group, group)
            raw.setdefault(group, []).append((term, language))
    texts = sorted({text for forms in raw.values() for text, _ in forms})
    analysed = dict(zip(texts, analyse_many(texts), strict=True))
    groups = []
    for key, forms in raw.items():
        unique = dict.fromkeys(forms)
        groups.append(
            Group(
                label=labels[key],
                forms=tuple(Form(text, lang, tuple(w.term for w in analysed[text])) for text, lang in unique),
            )
        )
    return Lexicon(groups)


@cache
def shipped_lexicon() -> Lexicon:
    """The lexicon of dari's shipped vocabulary and curated table (built once per process)."""
    from dari.vocab import shipped_vocabulary

    return build_lexicon(shipped_vocabulary())
