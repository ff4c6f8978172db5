"""A real Orthanc on loopback: STOW-RS a pydicom test file, QIDO-RS it, WADO-RS it back equal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pacs_orthanc import running_orthanc
from pydicom.data import get_testdata_file

from dari.imaging.dicomweb import InstanceRef, PacsClient
from dari.imaging.pacs import OrthancServer, PacsError


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    with running_orthanc(tmp_path_factory.mktemp("site-1") / "pacs") as server:
        yield server


def test_pacs_store_query_retrieve_equal(pacs: OrthancServer) -> None:
    # Prepare
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    original = pydicom.dcmread(path)
    client = PacsClient.for_server(pacs)

    # Execute
    result = client.store([original])
    studies = client.search_studies({"PatientID": original.PatientID})
    refs = client.search_instances(str(original.StudyInstanceUID))
    back = client.retrieve(refs[0])

    # Assert
    assert result.stored == (original.SOPInstanceUID,) and not result.failed
    assert [s["StudyInstanceUID"] for s in studies] == [original.StudyInstanceUID]
    assert refs == [
        InstanceRef(
            original.StudyInstanceUID,
            original.SeriesInstanceUID,
            original.SOPInstanceUID,
            original.SOPClassUID,
            "CT",
            original.StudyDate,
        )
    ]
    assert back.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert back.PixelData == original.PixelData
    assert back == original  # every data element equal
    assert pacs.health()["instances"] == 1 and pacs.health()["dicomweb_plugin"]


def test_pacs_refuses_wrong_credentials(pacs: OrthancServer) -> None:
    # Prepare
    intruder = PacsClient(pacs.dicomweb_url, pacs.username, "not-the-password")

    # Execute / Assert
    with pytest.raises(Exception, match="401"):
        intruder.search_studies()


def test_pacs_config_keeps_credentials_off_the_command_line(pacs: OrthancServer) -> None:
    # Assert: the password sits only in a file its owner alone may read, and in no process argument
    assert pacs.config_path.stat().st_mode & 0o077 == 0
    assert pacs._process is not None
    assert pacs.password not in " ".join(str(a) for a in pacs._process.args)  # type: ignore[union-attr]


def test_pacs_start_fails_clearly_without_orthanc(tmp_path: Path) -> None:
    with pytest.raises(PacsError, match="Orthanc not found"):
        OrthancServer(tmp_path, executable="/nonexistent/Orthanc").start()


def test_pacs_status_cli_reads_the_config_not_the_command_line(pacs: OrthancServer) -> None:
    import json

    from typer.testing import CliRunner

    from dari.cli.imaging import app

    # Execute: the site folder is all it is given; port and credentials come from the 0600 configuration
    result = CliRunner().invoke(app, ["pacs", "status", "--site", str(pacs.root.parent), "--format", "json"])

    # Assert
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["http_port"] == pacs.http_port and status["version"] and status["dicomweb_plugin"] is True
    assert pacs.password not in result.output
