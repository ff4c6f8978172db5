"""Print per-label precision/recall/F1 and documents/s of dari.privacy.text on a synthetic labelled corpus.

Usage: .venv/bin/python benchmarks/deid.py [N_DOCS] [SEED]   (targets: overall F1 >= 0.95, PERSON >= 0.93)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from dari.privacy.text import Span, SurrogateMap, deidentify
from dari.privacy.text.corpus import LabelledDoc, make_corpus
from dari.privacy.text.dates import shift_date
from dari.privacy.text.deid import detect
from dari.privacy.text.evaluation import evaluate, format_table
from dari.privacy.text.names import kiwi
from dari.privacy.text.patterns import is_birth_date


def main(n_docs: int = 2000, seed: int = 7) -> None:
    """Build the corpus, score the detector, time detection and full surrogate replacement."""
    start = time.perf_counter()
    kiwi()  # model load is a one-off per process; keep it out of the throughput figure
    print(f"Kiwi loaded in {time.perf_counter() - start:.1f} s")
    docs = make_corpus(n_docs, seed)
    start = time.perf_counter()
    result = evaluate(docs, detect=detect)
    took = time.perf_counter() - start
    print(f"dari.privacy.text on {n_docs} synthetic notes (seed {seed}), exact span match; lenF1 = overlap match")
    print(format_table(result))
    print(f"detection: {n_docs / took:,.0f} documents/s ({took:.2f} s)")
    surrogates = SurrogateMap("benchmark-secret")
    start = time.perf_counter()
    for doc in docs:
        deidentify(doc.text, surrogate=surrogates)
    took = time.perf_counter() - start
    print(f"detection + surrogates: {n_docs / took:,.0f} documents/s ({took:.2f} s)")
    print(date_coverage(docs))

    presidio = presidio_detector()
    if presidio is None:
        print("presidio: not installed, comparison skipped (uv sync --group bench installs it)")
        return
    start = time.perf_counter()
    result = evaluate(docs, detect=presidio)
    took = time.perf_counter() - start
    print("Presidio (no-op NLP engine: no model can be downloaded here; its pattern and checksum recognisers,")
    print("KR recognisers enabled), same corpus, same scoring:")
    print(format_table(result))
    print(f"presidio detection: {n_docs / took:,.0f} documents/s ({took:.2f} s)")


def date_coverage(docs: list[LabelledDoc]) -> str:
    """How many gold dates a site's cleaner moves by the person's shift, and how many stay as written (missed)."""
    total = moved = missed = 0
    for doc in docs:
        found = {(s.start, s.end) for s in detect(doc.text) if s.label == "DATE"}
        for start, end, label in doc.spans:
            if label != "DATE":
                continue
            total += 1
            if (start, end) not in found:
                missed += 1  # not recognised: left in the note as written, unshifted
            elif is_birth_date(doc.text, start) or shift_date(doc.text[start:end], 17) is not None:
                moved += 1  # a date of birth is written to the policy's precision instead
    return (
        f"gold dates: {total}; moved by the person's shift (or a date of birth generalised): {moved}; "
        f"left as written (not recognised): {missed} ({missed / max(total, 1):.2%})"
    )


# Presidio entity types → dari labels; everything else Presidio finds (URLs, IPs, credit cards…) is ignored.
PRESIDIO_TO_DARI = {
    "PERSON": "PERSON",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "LOCATION": "ADDRESS",
    "DATE_TIME": "DATE",
    "KR_RRN": "RRN",
    "KR_FRN": "RRN",
}


def presidio_detector() -> Callable[[str], list[Span]] | None:
    """Presidio configured as well as it can be offline, or None when presidio-analyzer is not installed."""
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine.no_op_nlp_engine import NoOpNlpEngine
        from presidio_analyzer.predefined_recognizers import KrFrnRecognizer, KrRrnRecognizer
    except ImportError:
        return None
    engine_nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine_nlp)
    # The KR recognisers are off by default and declared for Korean; our notes mix both, so run them on 'en'.
    registry.add_recognizer(KrRrnRecognizer(supported_language="en"))
    registry.add_recognizer(KrFrnRecognizer(supported_language="en"))
    engine = AnalyzerEngine(registry=registry, nlp_engine=engine_nlp, supported_languages=["en"])

    def detect_presidio(text: str) -> list[Span]:
        found = engine.analyze(text=text, language="en")
        return sorted(
            Span(r.start, r.end, PRESIDIO_TO_DARI[r.entity_type]) for r in found if r.entity_type in PRESIDIO_TO_DARI
        )

    return detect_presidio


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
