"""Site characterisation for the catalog: counts only, and every count through disclosure control."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dari.catalog.characterise import characterise
from dari.cdm.store import open_store
from dari.cli.app import app
from dari.synth.network import build_site
from dari.synth.sites import DEFAULT_SITES


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("char") / "site-1"
    build_site(DEFAULT_SITES[0], folder, 600, 3, 50_000)
    return folder


def test_characterise_all_counts_protected(site: Path) -> None:
    store = open_store(site)
    try:
        result = characterise(store)
    finally:
        store.close()
    counts = (
        [result.persons]
        + [a.persons for a in result.age_sex]
        + [c.persons for concepts in result.top.values() for c in concepts]
    )
    assert result.persons.value == 600
    assert {"conditions", "drugs", "measurements", "procedures"} <= set(result.top)
    for count in counts:
        assert count.suppressed or (count.value is not None and count.value >= 10 and count.value % 5 == 0)
    assert any(c.suppressed for c in counts)  # a 600-patient site has small age/sex cells


def test_cli_characterise_json_has_no_small_raw_counts(site: Path) -> None:
    result = CliRunner().invoke(app, ["cdm", "characterise", str(site), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    values = [a["persons"]["value"] for a in payload["age_sex"]]
    assert all(v is None or v >= 10 for v in values)
    assert payload["rules"] == {"min_cell": 10, "rounding_base": 5}


def test_cli_describe_gives_bilingual_dcat_jsonld_with_protected_counts(site: Path) -> None:
    # Execute
    result = CliRunner().invoke(app, ["cdm", "describe", str(site), "--id", "hb-test"])
    # Assert
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["@type"] == "dcat:Dataset" and "dcat" in doc["@context"]
    assert {t["@language"] for t in doc["dct:title"]} == {"ko", "en"}
    assert doc["healthdcatap:numberOfUniqueIndividuals"] == "600"
    assert int(doc["healthdcatap:numberOfRecords"]) % 5 == 0
    assert "KCD8" in doc["healthdcatap:hasCodingSystem"]
