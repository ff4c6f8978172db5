"""Bad input on the site path, with a real Orthanc: each refused with its reason, audited, the PACS's copy unchanged."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pacs_orthanc import running_orthanc
from pacs_sites import make_site
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, generate_uid

from dari.federation.site_audit import SiteAuditLog
from dari.imaging.dicomweb import PacsClient
from dari.imaging.pacs import OrthancServer
from dari.imaging.scoring import MatchedFilterScorer
from dari.imaging.synth import read_truth, synth_site_studies
from dari.imaging.validation_job import ImagingScope
from dari.imaging.validation_site import score_pacs

KEY = bytes(range(32))
MPEG2 = UID("1.2.840.10008.1.2.4.100")  # no decoder installed for it here


def _variant(base: Dataset, n: int) -> Dataset:
    ds = copy.deepcopy(base)
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
        setattr(ds, keyword, generate_uid(entropy_srcs=[keyword, str(n)]))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = f"BAD{n}"
    return ds


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, OrthancServer, dict[str, str]]]:
    folder = make_site(tmp_path_factory.mktemp("bad-input") / "site-1", 20)
    synth_site_studies(folder, 6, seed=3)
    rows = [r for r in read_truth(folder) if r["transfer_syntax"] == "1.2.840.10008.1.2.1" and r["modality"] == "DX"]
    good = pydicom.dcmread(folder / "imaging" / "studies" / f"{rows[0]['study_uid']}.dcm")
    multi = _variant(good, 1)
    multi.NumberOfFrames = 2
    multi.PixelData = good.PixelData * 2
    no_spacing = _variant(good, 2)
    del no_spacing.PixelSpacing, no_spacing.ImagerPixelSpacing
    mpeg = _variant(good, 3)
    mpeg.file_meta.TransferSyntaxUID = MPEG2
    mpeg.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    corrupt = _variant(good, 4)
    corrupt.PixelData = good.PixelData[: len(good.PixelData) // 3]
    ecg_path = get_testdata_file("waveform_ecg.dcm", download=False)
    assert ecg_path is not None
    ecg = pydicom.dcmread(ecg_path)
    expected = {
        str(good.SOPInstanceUID): "scored",
        str(multi.SOPInstanceUID): "multi_frame",
        str(no_spacing.SOPInstanceUID): "missing_pixel_spacing",
        str(mpeg.SOPInstanceUID): "unsupported_transfer_syntax",
        str(corrupt.SOPInstanceUID): "decode_failed",
        str(ecg.SOPInstanceUID): "not_image",
    }
    with running_orthanc(folder / "pacs") as pacs:
        result = PacsClient.for_server(pacs).store([good, multi, no_spacing, mpeg, corrupt, ecg])
        assert not result.failed
        yield folder, pacs, expected


def _stored_hashes(pacs: OrthancServer) -> dict[str, str]:
    return {
        i: hashlib.sha256(pacs.rest("GET", f"/instances/{i}/file")).hexdigest() for i in pacs.rest("GET", "/instances")
    }


def test_imaging_bad_input_refused_with_reason_audited_pacs_untouched(
    site: tuple[Path, OrthancServer, dict[str, str]],
) -> None:
    # Prepare
    folder, pacs, expected = site
    before = _stored_hashes(pacs)
    labels = dict.fromkeys(expected, True)
    scope = ImagingScope(modalities=("DX", "ECG"))
    audit = SiteAuditLog(folder)

    # Execute
    scored = score_pacs(
        PacsClient.for_server(pacs), scope, MatchedFilterScorer(modalities=("DX",)), KEY, labels, audit, "job-bad"
    )

    # Assert
    want = sorted(v for v in expected.values() if v != "scored")
    assert sorted(scored.refused.elements()) == want
    assert scored.y.size == 1  # the good image alone was scored
    refusals = {
        e["details"]["sop_instance"]: e["details"]["reason"]
        for e in audit.entries()
        if e["event"] == "imaging.image.refused"
    }
    assert refusals == {k: v for k, v in expected.items() if v != "scored"}
    assert _stored_hashes(pacs) == before  # the PACS's own copies were only read
