"""docs/deid-dicom.md is true: its shell commands and its Python block run as written, on pydicom's files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from dicom_helpers import dicom_testfile

from dari.errors import InputError
from dari.privacy.dicom import deidentify_file, read_key_file

DOC = Path(__file__).resolve().parents[3] / "docs" / "deid-dicom.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The files the docs' examples name: dicom-in/, scan.dcm, in.dcm and in/, copies of CT_small."""
    src = dicom_testfile("CT_small.dcm")
    for folder in ("dicom-in", "in"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(src, tmp_path / folder / "ct.dcm")
    shutil.copyfile(src, tmp_path / "scan.dcm")
    shutil.copyfile(src, tmp_path / "in.dcm")
    return tmp_path


def test_docs_shell_commands_run_as_written(workdir: Path) -> None:
    (block,) = _blocks("sh")
    lines = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("dari privacy keygen")
    for line in lines:
        result = _run(line, workdir)
        assert result.returncode == 0, (line, result.stderr)
    summary = json.loads(result.stdout)
    assert summary["files"] == 1
    assert (workdir / "dicom-deid" / "deid_report.json").is_file()
    assert pydicom.dcmread(workdir / "scan-deid.dcm").PatientIdentityRemoved == "YES"


def test_docs_raw_random_key_command_gives_a_working_key(workdir: Path) -> None:
    (command,) = re.findall(r"`(umask 077 && head -c 32 /dev/urandom > \S+)`", DOC.read_text(encoding="utf-8"))
    assert _run(command, workdir).returncode == 0
    name = command.rsplit(" ", 1)[1]
    result = _run(f"dari privacy deid-dicom scan.dcm --out s.dcm --key-file {name} --format json", workdir)
    assert result.returncode == 0, result.stderr
    # The CLI and the Python API read the key the same way, so they give the same pseudonym.
    api = deidentify_file(workdir / "scan.dcm", workdir / "api.dcm", key=read_key_file(workdir / name))
    assert json.loads(result.stdout)["per_file"]["s.dcm"]["patient"] == api.patient_pseudonym


def test_short_or_exposed_raw_keys_are_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"\xff" * 16)
    short.chmod(0o600)
    with pytest.raises(InputError):
        read_key_file(short)
    exposed = tmp_path / "exposed.key"
    exposed.write_bytes(b"\xff" * 32)
    exposed.chmod(0o644)
    with pytest.raises(InputError, match="readable by others"):
        read_key_file(exposed)


def test_docs_python_block_runs_as_written(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = _blocks("python")
    assert _run("dari privacy keygen site.key", workdir).returncode == 0
    monkeypatch.chdir(workdir)
    exec(compile(block, str(DOC), "exec"), {})  # every import and call the docs show must exist
    assert pydicom.dcmread(workdir / "out.dcm").PatientIdentityRemoved == "YES"
    assert (workdir / "out" / "deid_report.json").is_file()
