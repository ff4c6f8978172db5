"""The deid-text command contract: JSONL in/out, CP949 input, errors naming the line, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dari.cli.privacy_text import deid_jsonl, deid_text
from dari.errors import InputError

runner = CliRunner()
RECORDS = [
    {"id": 1, "text": "환자 홍길동님 (92세) 2023-05-01 입원, 연락처 010-1234-5678"},
    {"id": "b", "text": "Patient: Kim Minji, MRN 12345678, seen on 05/01/2023."},
]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(deid_text)
    return app


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_cli_jsonl_roundtrip_mask(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in RECORDS])
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    result = runner.invoke(_app(), [str(src), "--out", str(out), "--mode", "mask"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [1, "b"]
    assert rows[0]["text"] == "환자 [PERSON]님 ([AGE]) [DATE] 입원, 연락처 [PHONE]"
    for row, record in zip(rows, RECORDS, strict=True):
        for start, end, label in row["spans"]:
            assert label in {"PERSON", "RRN", "PHONE", "EMAIL", "ADDRESS", "MRN", "DATE", "AGE"}
            assert record["text"][start:end].strip() == record["text"][start:end] != ""
    assert src.read_bytes() == before


def test_cli_surrogate_secret_reproducible(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in RECORDS])
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        result = runner.invoke(_app(), [str(src), "--out", str(tmp_path / name), "--secret", "k"])
        assert result.exit_code == 0, result.output
        outs.append((tmp_path / name).read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
    assert "홍길동" not in outs[0] and "010-1234-5678" not in outs[0]


def test_cli_cp949_input_detected_and_declared(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in RECORDS], encoding="cp949")
    for extra in ([], ["--encoding", "cp949"]):
        out = tmp_path / "out.jsonl"
        result = runner.invoke(_app(), [str(src), "--out", str(out), "--mode", "mask", *extra])
        assert result.exit_code == 0, result.output
        assert "[PERSON]님" in out.read_text(encoding="utf-8")


def test_cli_bad_line_names_line_and_creates_no_output(tmp_path: Path) -> None:
    good = json.dumps(RECORDS[0], ensure_ascii=False)
    src = _write(tmp_path / "in.jsonl", [good, good, '{"id": 3, "text": "홍길동 010-9999-8888"'])
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as info:
        deid_jsonl(src, out)
    assert info.value.row == 3 and str(src) in str(info.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]
    result = runner.invoke(_app(), [str(src), "--out", str(out)])
    assert result.exit_code == 2
    assert "row 3" in result.output and not out.exists()


@pytest.mark.parametrize(
    ("line", "expected"),
    [('{"text": "홍길동 850101-1234568"}', "missing 'id'"), ('{"id": 1}', "missing 'text'"), ("[1, 2]", "object")],
)
def test_cli_missing_fields_error_without_identifiers(tmp_path: Path, line: str, expected: str) -> None:
    src = _write(tmp_path / "in.jsonl", [line])
    with pytest.raises(InputError) as info:
        deid_jsonl(src, tmp_path / "out.jsonl")
    message = str(info.value)
    assert expected in message and "row 1" in message
    assert "홍길동" not in message and "850101" not in message


def test_cli_invalid_json_error_without_identifiers(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", ['{"id": 1, "text": "홍길동 850101-1234568 010-1234-5678" oops}'])
    with pytest.raises(InputError) as info:
        deid_jsonl(src, tmp_path / "out.jsonl")
    message = str(info.value)
    assert "invalid JSON" in message
    assert "홍길동" not in message and "850101" not in message and "010-1234" not in message


def test_cli_undecodable_input_names_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "\xff\xfe\xff"}\n')
    with pytest.raises(InputError) as info:
        deid_jsonl(src, tmp_path / "out.jsonl", encoding="utf-8")
    assert info.value.row == 2
    assert not (tmp_path / "out.jsonl").exists()
