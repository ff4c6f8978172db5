"""A broken copy of the shipped data files is rejected with InputError naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from dari.errors import InputError
from dari.vocab import load_vocabulary, shipped_data_dir


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    for name in ("concepts.csv", "synonyms.csv", "relationships.csv", "metadata.csv"):
        (tmp_path / name).write_text(shipped_data_dir().joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def rewrite_line(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def test_load_vocabulary_of_unchanged_copy_succeeds(data_copy: Path) -> None:
    assert len(load_vocabulary(data_copy)) == len(load_vocabulary(shipped_data_dir()))


def test_load_vocabulary_non_integer_id_names_file_row_column(data_copy: Path) -> None:
    rewrite_line(data_copy / "concepts.csv", 5, "2000010003", "x000010003")
    with pytest.raises(InputError) as err:
        load_vocabulary(data_copy)
    assert err.value.file is not None and err.value.file.endswith("concepts.csv")
    assert err.value.row == 5 and err.value.column == "concept_id"
    assert "concepts.csv" in str(err.value) and "row 5" in str(err.value)


def test_load_vocabulary_duplicate_concept_id_is_rejected(data_copy: Path) -> None:
    rewrite_line(data_copy / "concepts.csv", 5, "2000010003", "2000010002")
    with pytest.raises(InputError, match="duplicate concept_id") as err:
        load_vocabulary(data_copy)
    assert err.value.row == 5


def test_load_vocabulary_standard_concept_without_korean_name_is_rejected(data_copy: Path) -> None:
    rewrite_line(data_copy / "concepts.csv", 3, ",남성,", ",,")
    with pytest.raises(InputError, match="Korean name") as err:
        load_vocabulary(data_copy)
    assert (err.value.row, err.value.column) == (3, "concept_name_ko")


def test_load_vocabulary_dangling_relationship_end_is_rejected(data_copy: Path) -> None:
    with (data_copy / "relationships.csv").open("a", encoding="utf-8") as f:
        f.write("2000100005,Is a,2099999999\n")
    n_lines = len((data_copy / "relationships.csv").read_text(encoding="utf-8").splitlines())
    with pytest.raises(InputError, match=r"not in concepts\.csv") as err:
        load_vocabulary(data_copy)
    assert err.value.file is not None and err.value.file.endswith("relationships.csv")
    assert (err.value.row, err.value.column) == (n_lines, "concept_id_2")


def test_load_vocabulary_is_a_cycle_is_rejected(data_copy: Path) -> None:
    with (data_copy / "relationships.csv").open("a", encoding="utf-8") as f:
        f.write("2000100005,Is a,2000100007\n")  # diabetes Is a T2DM, while T2DM Is a diabetes
    with pytest.raises(InputError, match="cycle"):
        load_vocabulary(data_copy)


def test_load_vocabulary_second_maps_to_is_rejected(data_copy: Path) -> None:
    vocab = load_vocabulary(data_copy)
    e119 = vocab.by_code("KCD8", "E11.9").concept_id
    with (data_copy / "relationships.csv").open("a", encoding="utf-8") as f:
        f.write(f"{e119},Maps to,2000100005\n")
    with pytest.raises(InputError, match="exactly one"):
        load_vocabulary(data_copy)


def test_load_vocabulary_cross_domain_mapping_is_rejected(data_copy: Path) -> None:
    vocab = load_vocabulary(data_copy)
    metformin = vocab.by_code("ATC", "A10BA02").concept_id
    text = (data_copy / "relationships.csv").read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith(f"{metformin},Maps to,"))
    diabetes = vocab.by_code("SNOMED", "73211009").concept_id
    (data_copy / "relationships.csv").write_text(text.replace(old, f"{metformin},Maps to,{diabetes}"), encoding="utf-8")
    with pytest.raises(InputError, match="Drug concept to a Condition"):
        load_vocabulary(data_copy)


def test_load_vocabulary_unmapped_source_concept_is_rejected(data_copy: Path) -> None:
    with (data_copy / "concepts.csv").open("a", encoding="utf-8") as f:
        f.write("2001000999,Gout,통풍,Condition,KCD8,KCD8 3-char,,M10,,\n")
    with pytest.raises(InputError, match="no 'Maps to'") as err:
        load_vocabulary(data_copy)
    assert err.value.file is not None and err.value.file.endswith("concepts.csv")


def test_load_vocabulary_missing_file_is_named(data_copy: Path) -> None:
    (data_copy / "synonyms.csv").unlink()
    with pytest.raises(InputError, match="missing") as err:
        load_vocabulary(data_copy)
    assert err.value.file is not None and err.value.file.endswith("synonyms.csv")
