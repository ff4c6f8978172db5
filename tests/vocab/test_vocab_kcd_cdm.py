"""KCD codes mapped through a CDM's own (Athena) vocabulary: KCD7 first, then ICD10, never dari-local ids."""

from __future__ import annotations

import json
from pathlib import Path

from athena_download import write_download
from typer.testing import CliRunner

from dari.cdm.store import open_store
from dari.cli.app import app
from dari.vocab.athena_load import load_vocabulary_into
from dari.vocab.kcd_cdm import load_kcd, map_kcd_codes
from dari.vocab.model import LOCAL_CONCEPT_ID_MIN

runner = CliRunner()


def _cdm(tmp_path: Path) -> str:
    target = str(tmp_path / "cdm.duckdb")
    load_vocabulary_into(target, write_download(tmp_path / "athena"))
    return target


def test_codes_map_via_kcd7_then_icd10_and_unmapped_are_reported(tmp_path: Path) -> None:
    """E11 is a KCD7 source concept mapped to SNOMED 201826; E11.9 (ICD10, no 'Maps to') and I10 stay unmapped."""
    store = open_store(_cdm(tmp_path))
    try:
        result = map_kcd_codes(store, ["e11", "E11.9†", "I10", "E11"])
        fallback = map_kcd_codes(store, ["E11.9"], parent_fallback=True)
    finally:
        store.close()
    assert [(m.code, m.source_vocabulary_id, m.source_concept_id, m.target_concept_ids) for m in result.mapped] == [
        ("E11", "KCD7", 45542411, (201826,))
    ]
    assert result.unmapped == ("E11.9", "I10")
    assert fallback.mapped[0].via == "E11" and fallback.mapped[0].code == "E11.9"
    assert all(t < LOCAL_CONCEPT_ID_MIN for m in result.mapped for t in m.target_concept_ids)


def test_cli_map_kcd_reads_a_cp949_file(tmp_path: Path) -> None:
    """`dari cdm vocab map-kcd` reads the published CP949 list and prints mapped and unmapped codes as JSON."""
    target = _cdm(tmp_path)
    path = tmp_path / "kcd.csv"
    path.write_bytes("상병기호,한글명\r\nE11,2형 당뇨병\r\nL40.0,보통 건선\r\n".encode("cp949"))
    result = runner.invoke(app, ["cdm", "vocab", "map-kcd", str(path), target, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mapped"][0]["target_concept_ids"] == [201826] and data["unmapped"] == ["L40.0"]


def test_load_kcd_on_a_synthetic_site_maps_through_its_own_kcd8_concepts(tmp_path: Path) -> None:
    """A CDM that carries dari's shipped vocabulary (KCD8 concepts) maps through that CDM's own rows."""
    import duckdb

    from dari.vocab import shipped_vocabulary

    target = tmp_path / "synthetic.duckdb"
    con = duckdb.connect(str(target))
    for name, arrow in shipped_vocabulary().to_arrow().items():
        con.register("arrow_view", arrow)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_view")
        con.unregister("arrow_view")
    con.close()
    path = tmp_path / "kcd.csv"
    path.write_text("상병기호\nE11.9\nZ99.99\n", encoding="utf-8")
    result = load_kcd(path, str(target))
    vocab = shipped_vocabulary()
    expected = vocab.maps_to(vocab.by_code("KCD8", "E11.9").concept_id).concept_id
    assert result.mapped[0].target_concept_ids == (expected,)
    assert result.mapped[0].source_vocabulary_id == "KCD8" and result.unmapped == ("Z99.99",)
