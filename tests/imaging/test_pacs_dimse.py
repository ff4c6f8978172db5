"""DIMSE against a real Orthanc: C-ECHO, C-STORE in, C-FIND back, C-MOVE out to dari's own C-STORE SCP."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pacs_orthanc import running_orthanc
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dari.imaging.dimse import DimseNode, StoreScp, echo, find, move, store
from dari.imaging.pacs import DicomPeer, PacsError, free_port


def test_pacs_dimse_echo_store_find_move(tmp_path: Path) -> None:
    # Prepare: dari's SCP is the one DICOM peer Orthanc accepts (and may move studies to)
    scp_port = free_port()
    peers = {"dari": DicomPeer("DARI", "127.0.0.1", scp_port)}
    files = [get_testdata_file(name, download=False) for name in ("CT_small.dcm", "MR_small.dcm")]
    datasets = [pydicom.dcmread(f) for f in files if f is not None]
    with running_orthanc(tmp_path / "orthanc", peers) as pacs, StoreScp(tmp_path / "received", port=scp_port) as scp:
        node = pacs.dicom_node

        # Execute
        echoed = echo(node)
        stored = store(node, datasets)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        query.PatientID = ""
        query.ModalitiesInStudy = ""
        studies = find(node, query)
        moved = move(node, str(datasets[0].StudyInstanceUID), "DARI")
        stranger_refused = False
        try:
            echo(node, calling_aet="STRANGER")
        except PacsError:
            stranger_refused = True

    # Assert
    assert echoed == 0
    assert stored == {str(ds.SOPInstanceUID): 0 for ds in datasets}
    assert sorted(str(s.StudyInstanceUID) for s in studies) == sorted({str(ds.StudyInstanceUID) for ds in datasets})
    assert moved == 1 and scp.received == [str(datasets[0].SOPInstanceUID)]
    back = pydicom.dcmread(tmp_path / "received" / f"{datasets[0].SOPInstanceUID}.dcm")
    assert back.PixelData == datasets[0].PixelData
    assert stranger_refused  # Orthanc accepts only the AE titles it was configured with


def test_pacs_dimse_unreachable_names_the_node() -> None:
    with pytest.raises(PacsError, match=r"NOBODY@127\.0\.0\.1"):
        echo(DimseNode("NOBODY", "127.0.0.1", free_port()))
