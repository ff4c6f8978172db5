"""Write the English given-name and surname lexicons the de-identification tagger ships with.

Source: names-dataset (MIT licence, github.com/philipperemy/name-dataset), the most frequent names per country.
Run once when refreshing the lexicons (needs the `train` group: `uv sync --group train`):

    .venv/bin/python scripts/build_en_name_lexicon.py
"""

from __future__ import annotations

from pathlib import Path

from names_dataset import NameDataset

OUT = Path(__file__).resolve().parents[1] / "src" / "dari" / "privacy" / "text" / "data"
COUNTRIES = ("US", "GB", "CA", "AU", "IE", "NZ")
TOP = 1000  # per country and sex: enough for recall, small enough to ship (a few tens of kB)


def _write(path: Path, names: set[str], header: str) -> None:
    tmp = path.with_suffix(".tmp")
    words = sorted(n for n in names if n.isalpha() and len(n) >= 2)
    tmp.write_text(f"# {header}\n" + "\n".join(words) + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    """Extract the top names per English-speaking country and write them as sorted word lists."""
    nd = NameDataset()
    given: set[str] = set()
    surnames: set[str] = set()
    for country in COUNTRIES:
        first = nd.get_top_names(n=TOP, country_alpha2=country).get(country)
        if first is None:  # the dataset has no data for some countries (AU in 3.3)
            continue
        given.update(first["M"] + first["F"])
        surnames.update(nd.get_top_names(n=TOP, use_first_names=False, country_alpha2=country)[country])
    source = f"names-dataset 3.3 (MIT), top {TOP} per country/sex of {', '.join(COUNTRIES)}"
    _write(OUT / "en_given_names.txt", given, f"English given names: {source}")
    _write(OUT / "en_surnames.txt", surnames, f"English surnames: {source}")
    print(f"{len(given)} given names, {len(surnames)} surnames -> {OUT}")


if __name__ == "__main__":
    main()
