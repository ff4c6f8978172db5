"""`link-tokens`: tokens from a CSV, no identifier in the output, located errors, CP949 input."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from dari.cli.privacy_linkage import link_tokens
from dari.privacy.keys import create_key_file, load_key
from dari.privacy.linkage import linkage_tokens
from dari.privacy.linkage.evaluate import make_linkage_benchmark

app = typer.Typer()
app.command()(link_tokens)
runner = CliRunner()
FIELDS = ["name", "rrn", "birth_date", "sex", "name_en", "sigungu"]


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "linkage.key"
    create_key_file(path)
    return path


def _write(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _identities(n: int) -> list[dict[str, str]]:
    a = make_linkage_benchmark(n, 0.0, seed=2).a.to_pylist()
    return [
        {"name": r["name_ko"], "rrn": r["rrn"], "birth_date": str(r["birth_date"]), "sex": r["sex"],
         "name_en": r["name_en"], "sigungu": r["sigungu"]}
        for r in a
    ]  # fmt: skip


def test_link_tokens_writes_no_identifier(tmp_path: Path, key_file: Path) -> None:
    rows = _identities(50)
    src, out = tmp_path / "ids.csv", tmp_path / "tokens.csv"
    _write(src, rows)
    result = runner.invoke(app, [str(src), str(out), "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for r in rows:
        for secret in (r["name"], r["rrn"], r["rrn"].replace("-", ""), r["name_en"], r["name_en"].replace(" ", "")):
            assert secret not in text
    written = list(csv.DictReader(text.splitlines()))
    assert [int(w["row"]) for w in written] == list(range(1, 51))
    assert all(len(base64.b64decode(w["clk"])) == 128 for w in written)


def test_link_tokens_match_library_tokens(tmp_path: Path, key_file: Path) -> None:
    rows = _identities(5)
    src, out = tmp_path / "ids.csv", tmp_path / "tokens.csv"
    _write(src, rows)
    assert runner.invoke(app, [str(src), str(out), "--key-file", str(key_file)]).exit_code == 0
    written = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    expected = linkage_tokens(pa.Table.from_pylist(rows), load_key(key_file))
    assert [w["rrn_token"] for w in written] == expected.column("rrn_token").to_pylist()
    assert [base64.b64decode(w["clk"]) for w in written] == expected.column("clk").to_pylist()


def test_link_tokens_cp949_input_same_tokens(tmp_path: Path, key_file: Path) -> None:
    rows = _identities(5)
    utf8, cp949 = tmp_path / "u.csv", tmp_path / "c.csv"
    _write(utf8, rows)
    _write(cp949, rows, encoding="cp949")
    out_u, out_c = tmp_path / "u.tok", tmp_path / "c.tok"
    assert runner.invoke(app, [str(utf8), str(out_u), "--key-file", str(key_file)]).exit_code == 0
    result = runner.invoke(app, [str(cp949), str(out_c), "--key-file", str(key_file), "--encoding", "cp949"])
    assert result.exit_code == 0, result.output
    assert out_u.read_bytes() == out_c.read_bytes()
    wrong = runner.invoke(app, [str(cp949), str(tmp_path / "x.tok"), "--key-file", str(key_file)])
    assert wrong.exit_code == 2
    assert "cp949" in wrong.output


def test_link_tokens_bad_date_names_file_line_column(tmp_path: Path, key_file: Path) -> None:
    rows = _identities(3)
    rows[1]["birth_date"] = "1985-13-45"
    src, out = tmp_path / "ids.csv", tmp_path / "tokens.csv"
    _write(src, rows)
    result = runner.invoke(app, [str(src), str(out), "--key-file", str(key_file)])
    assert result.exit_code == 2
    assert "ids.csv" in result.output and "row 3" in result.output and "birth_date" in result.output
    assert not out.exists()  # nothing half-written


def test_link_tokens_invalid_rrn_counted(tmp_path: Path, key_file: Path) -> None:
    rows = _identities(4)
    rows[0]["rrn"], rows[1]["rrn"] = "", "12-34"
    src, out = tmp_path / "ids.csv", tmp_path / "tokens.csv"
    _write(src, rows)
    result = runner.invoke(app, [str(src), str(out), "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    statuses = [w["rrn_status"] for w in csv.DictReader(out.read_text(encoding="utf-8").splitlines())]
    assert statuses == ["missing", "invalid", "valid", "valid"]
    assert np.array([s == "valid" for s in statuses]).sum() == 2
