"""Dummy data from the site's published characterisation, and local runs on it (the CLI, a headless notebook)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import nbformat
import pyarrow.parquet as pq
import pytest
from podbox_helpers import write_bundle
from typer.testing import CliRunner

from dari.catalog.characterise import characterise
from dari.cdm.store import open_store
from dari.cli.app import app
from dari.federation.guard import Admission
from dari.hub.governance.requested_data import RequestedVariable
from dari.pods.grant import RESEARCH_POD, PodGrant
from dari.pods.runner import RUNS
from dari.pods.view import build_view

TABLES = ("person", "measurement", "condition_occurrence", "death")


@pytest.fixture(scope="module")
def published(pod_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The characterisation the site publishes to the hub catalog (protected counts only)."""
    store = open_store(pod_site)
    try:
        text = characterise(store).to_json()
    finally:
        store.close()
    path = tmp_path_factory.mktemp("published") / "characterisation.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dummy(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dummy")
    result = CliRunner().invoke(
        app,
        ["pod", "dummy", "--characterisation", str(published), "--out", str(folder), "--tables", ",".join(TABLES)],
    )
    assert result.exit_code == 0, result.output
    return folder


def test_dummy_has_the_site_views_schema(pod_site: Path, dummy: Path, tmp_path: Path) -> None:
    # Prepare
    admission = Admission(
        job_id="schema",
        site_id="site-1",
        dataset_id="site-1-cdm",
        site_folder=str(pod_site),
        analysis_type=RESEARCH_POD,
        requester="r",
        grant_id="g",
        rules={"min_cell": 10, "rounding_base": 5},  # type: ignore[arg-type]
        max_rounds=1,
    )
    grant = PodGrant(
        admission=admission, bundle_sha256="0" * 64, variables=[RequestedVariable(table=t, label=t) for t in TABLES]
    )
    # Execute
    build_view(pod_site, grant, TABLES, tmp_path / "view")
    # Assert
    for table in TABLES:
        site_schema = pq.read_schema(tmp_path / "view" / f"{table}.parquet")
        dummy_schema = pq.read_schema(dummy / "view" / f"{table}.parquet")
        assert site_schema.names == dummy_schema.names and site_schema.types == dummy_schema.types, table


def test_dummy_copies_no_real_person_or_person_date(pod_site: Path, dummy: Path, published: Path) -> None:
    # Prepare
    cdm = str(pod_site / "cdm.duckdb")
    con = duckdb.connect()
    con.execute(f"ATTACH '{cdm}' AS cdm (READ_ONLY)")
    view = dummy / "view"
    # Execute
    shared_ids = con.execute(
        f"SELECT count(*) FROM '{view}/person.parquet' d JOIN cdm.person p USING (person_id)"
    ).fetchall()[0][0]
    shared_pairs = con.execute(
        f"SELECT count(*) FROM (SELECT person_id, measurement_date FROM '{view}/measurement.parquet' "
        "INTERSECT SELECT person_id, measurement_date FROM cdm.measurement)"
    ).fetchall()[0][0]
    women = con.execute(f"SELECT avg((gender_concept_id = 8532)::INT) FROM '{view}/person.parquet'").fetchall()[0][0]
    concepts = {
        c
        for (c,) in con.execute(f"SELECT DISTINCT measurement_concept_id FROM '{view}/measurement.parquet'").fetchall()
    }
    # Assert: no real row; the published marginals (sex share, top measurements) are kept
    ch = json.loads(published.read_text())
    cells = {(c["age_band"], c["sex"]): c["persons"]["value"] or 5 for c in ch["age_sex"]}
    published_women = sum(n for (_, s), n in cells.items() if s == "F") / sum(cells.values())
    assert shared_ids == 0 and shared_pairs == 0
    assert abs(women - published_women) < 0.12
    assert concepts == {c["concept_id"] for c in ch["top"]["measurements"]}


def test_same_bundle_runs_locally_on_dummy_data_and_as_notebook(dummy: Path, tmp_path: Path) -> None:
    # Prepare: a notebook bundle, run headless in the sandbox by `dari pod run --local`
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import duckdb\nn = duckdb.sql(\"SELECT count(*) FROM '/pod/data/person.parquet'\").fetchall()[0][0]"
        ),
        nbformat.v4.new_code_cell("open('/pod/outputs/persons.txt', 'w').write(str(n))\nn"),
    ]
    bundle = write_bundle(tmp_path / "nb", "", entry="notebook.ipynb")
    nbformat.write(notebook, bundle / "notebook.ipynb")
    # Execute
    result = CliRunner().invoke(app, ["pod", "run", str(bundle), "--local", "--data", str(dummy), "--format", "json"])
    # Assert
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    outputs = dummy / RUNS / run["run_id"] / "outputs"
    assert run["local"] is True and run["view"]["dummy"] is True and run["grant_id"] is None
    assert (outputs / "persons.txt").read_text() == str(run["view"]["rows"]["person"])
    executed = nbformat.read(outputs / "notebook.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["data"]["text/plain"] == str(run["view"]["rows"]["person"])
