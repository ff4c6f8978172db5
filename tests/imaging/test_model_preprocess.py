"""The image spec and preprocessing: MONOCHROME1 inverted, resampled to the spec's spacing, compressed syntaxes
decoded, and every kind of bad input refused with its reason code, the dataset left as it was."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from imgmodel_images import radiograph
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000, UID, RLELossless

from dari.errors import InputError
from dari.imaging.preprocess import ImageRefusedError, preprocess, read_dataset
from dari.imaging.spec import ImageSpec, parse_spec

SPEC = ImageSpec(
    name="test",
    modalities=("DX", "CR"),
    body_parts=("CHEST",),
    pixel_spacing_mm=2.0,
    size=(192, 192),
    threshold=0.5,
    finding_code=("27925004", "SCT", "Nodule"),
)


@pytest.fixture(scope="module")
def chest() -> Dataset:
    ds, _ = radiograph("site-1", lesion=True)
    ds.decompress()
    return ds


def test_spec_bad_field_named() -> None:
    # Execute / Assert: an inverted percentile range and a missing field name the field
    bad = SPEC.model_dump(mode="json") | {"normalisation": {"mode": "percentile", "percentiles": [99, 1]}}
    with pytest.raises(InputError, match="normalisation"):
        parse_spec(json.dumps(bad), source="spec.json")
    with pytest.raises(InputError, match=r"spec\.json"):
        parse_spec("{}", source="spec.json")


def test_preprocess_monochrome1_inverted_and_resampled(chest: Dataset) -> None:
    # Prepare: the same pixels stored as MONOCHROME1 (max - value)
    before = copy.deepcopy(chest)
    inverted = copy.deepcopy(chest)
    top = 2 ** int(chest.BitsStored) - 1
    inverted.PixelData = (top - chest.pixel_array.astype(np.int32)).astype(np.uint16).tobytes()
    inverted.PhotometricInterpretation = "MONOCHROME1"
    # Execute
    a, b = preprocess(chest, SPEC), preprocess(inverted, SPEC)
    # Assert: the model sees the same image either way, at 2 mm, and the input dataset is unchanged
    assert a.tensor.shape == (1, 1, 192, 192) and a.tensor.dtype == np.float32
    assert np.allclose(a.tensor, b.tensor, atol=1e-5)
    spacing = float(chest.ImagerPixelSpacing[0])
    assert a.geometry.scale[0] == pytest.approx(2.0 / spacing, rel=0.02)
    assert chest == before


def test_preprocess_decodes_rle_and_jpeg2000(chest: Dataset) -> None:
    # Prepare: the radiograph re-encoded as RLE and JPEG 2000 (lossless)
    plain = preprocess(chest, SPEC).tensor
    for syntax in (RLELossless, JPEG2000):
        encoded = copy.deepcopy(chest)
        encoded.compress(syntax, **({"j2k_cr": [1]} if syntax == JPEG2000 else {}))
        # Execute / Assert: the decoders give the same tensor
        assert np.allclose(preprocess(encoded, SPEC).tensor, plain, atol=1e-3), syntax.name


def _variant(ds: Dataset, **changes: object) -> Dataset:
    out = copy.deepcopy(ds)
    for keyword, value in changes.items():
        if value is None:
            delattr(out, keyword)
        else:
            setattr(out, keyword, value)
    return out


def test_preprocess_bad_input_refused_with_reason(chest: Dataset) -> None:
    # Prepare: one dataset per kind of bad input
    mpeg = _variant(chest)
    mpeg.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2: no decoder exists
    truncated = _variant(chest)
    truncated.PixelData = chest.PixelData[:100]
    cases = {
        "not_image": read_dataset(Path(str(get_testdata_file("waveform_ecg.dcm")))),
        "multi_frame": _variant(chest, NumberOfFrames=2),
        "missing_pixel_spacing": _variant(chest, PixelSpacing=None, ImagerPixelSpacing=None),
        "unsupported_transfer_syntax": mpeg,
        "unsupported_photometric": _variant(chest, PhotometricInterpretation="RGB"),
        "out_of_scope": _variant(chest, BodyPartExamined="KNEE"),
        "decode_failed": truncated,
    }
    for reason, ds in cases.items():
        # Execute / Assert: refused with that reason, and the message says it
        with pytest.raises(ImageRefusedError) as caught:
            preprocess(ds, SPEC, name="case.dcm")
        assert caught.value.reason == reason, (reason, str(caught.value))
        assert "case.dcm" in str(caught.value)
    with pytest.raises(ImageRefusedError) as corrupt:
        read_dataset(b"\x00" * 50 + b"not dicom", name="junk.dcm")
    assert corrupt.value.reason == "corrupt"
