"""Free-text de-identification of Korean and English clinical notes (rules, lexicons and Kiwi morphology)."""

from __future__ import annotations

from dari.privacy.text.deid import deidentify
from dari.privacy.text.model import LABELS, DeidResult, Span
from dari.privacy.text.surrogate import SurrogateMap

__all__ = ["LABELS", "DeidResult", "Span", "SurrogateMap", "deidentify"]
