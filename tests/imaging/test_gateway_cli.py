"""`dari imaging-gateway score`: a radiograph scored (JSON), a non-image refused with its reason and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

from imgmodel_images import radiograph
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from dari.cli.app import app


def test_gateway_cli_score_and_refusal(tmp_path: Path) -> None:
    # Prepare
    ds, _ = radiograph("site-1", lesion=True)
    image = tmp_path / "chest.dcm"
    ds.save_as(image, enforce_file_format=True)
    runner = CliRunner()
    # Execute
    scored = runner.invoke(app, ["imaging-gateway", "score", str(image), "--format", "json"])
    refused = runner.invoke(app, ["imaging-gateway", "score", str(get_testdata_file("waveform_ecg.dcm"))])
    # Assert
    assert scored.exit_code == 0, scored.output
    data = json.loads(scored.stdout)
    assert data["model"] == "dari-cxr-nodule 0.1.0" and 0.0 <= data["score"] <= 1.0
    assert data["finding"] == (data["score"] >= data["threshold"])
    assert refused.exit_code == 2 and "not_image" in refused.output
