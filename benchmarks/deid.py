"""Print per-label precision/recall/F1 and documents/s of dari.privacy.text on a synthetic labelled corpus.

Usage: .venv/bin/python benchmarks/deid.py [N_DOCS] [SEED]   (targets: overall F1 >= 0.95, PERSON >= 0.93)
"""

from __future__ import annotations

import sys
import time

from dari.privacy.text import SurrogateMap, deidentify
from dari.privacy.text.corpus import make_corpus
from dari.privacy.text.deid import detect
from dari.privacy.text.evaluation import evaluate, format_table
from dari.privacy.text.names import kiwi


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

    # --- Presidio comparison (NOT RUN: presidio-analyzer is not installed) -------------------------------
    # To compare, install presidio-analyzer with a Korean/English spaCy model and add here:
    #   from presidio_analyzer import AnalyzerEngine
    #   engine = AnalyzerEngine(supported_languages=["en", "ko"])
    #   PRESIDIO_TO_DARI = {"PERSON": "PERSON", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL",
    #                       "LOCATION": "ADDRESS", "DATE_TIME": "DATE", "KR_RRN": "RRN"}
    #   def presidio_detect(text): ...map engine.analyze(text, language=...) results to Span(start, end, label)
    #   print(format_table(evaluate(docs, detect=presidio_detect)))
    print("presidio: not installed, comparison skipped (see the marked block in benchmarks/deid.py)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
