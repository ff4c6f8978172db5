"""Train the person-name CRF that ships in src/dari/privacy/text/data/person_tagger.crfsuite.

The shipped model learns from both note families (dari.synth.notes via make_corpus, and the ward family); the
held-out figures in docs/deid-text.md come from benchmarks/deid.py, which trains on one family and scores the other.

    .venv/bin/python scripts/train_deid_tagger.py [N_PER_FAMILY] [SEED]    (defaults 1200, 101)
"""

from __future__ import annotations

import sys
import time

from dari.privacy.text.corpus import make_corpus
from dari.privacy.text.corpus_ward import make_ward_corpus
from dari.privacy.text.tagger import MODEL_PATH
from dari.privacy.text.tagger_train import train_tagger


def main(n_per_family: int = 1200, seed: int = 101) -> None:
    """Generate both families (seeds apart from the benchmark's) and train the shipped model."""
    start = time.perf_counter()
    docs = make_corpus(n_per_family, seed) + make_ward_corpus(n_per_family, seed + 1)
    lines = train_tagger(docs, MODEL_PATH, seed=seed)
    took = time.perf_counter() - start
    size = MODEL_PATH.stat().st_size
    print(f"trained on {len(docs)} notes ({lines} lines, with augmentation) in {took:.0f} s")
    print(f"-> {MODEL_PATH} ({size:,} B)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
