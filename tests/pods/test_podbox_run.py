"""Pod runs at a synthetic site through the real site guard: the view, the held outputs, run.json, refusals."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from podbox_helpers import audit_of, pod_request, run_at_site, write_bundle
from typer.testing import CliRunner, Result

from dari.cli.app import app
from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubApiGrantChecker
from dari.federation.guard import Admission, SiteBinding, SiteGuard
from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import JobTicket, params_sha256
from dari.hub.governance.requested_data import RequestedVariable
from dari.pods.bundle import bundle_sha256
from dari.pods.grant import RESEARCH_POD, PodGrant, PodGrantError
from dari.pods.models import PodRun
from dari.pods.runner import RUNS, load_run, run_bundle
from dari.pods.view import build_view
from dari.signing import public_pem

ANALYSIS = """
import csv, json, duckdb
con = duckdb.connect()
cols = {t: [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '/pod/data/{t}.parquet'").fetchall()]
        for t in ("person", "measurement")}
json.dump(cols, open("/pod/outputs/columns.json", "w"))
rows = con.execute(
    "SELECT p.gender_concept_id, count(*) FROM '/pod/data/person.parquet' p "
    "JOIN '/pod/data/measurement.parquet' m USING (person_id) GROUP BY 1 ORDER BY 1").fetchall()
csv.writer(open("/pod/outputs/by_sex.csv", "w")).writerows(rows)
print("done")
"""


def _admission(site: Path, job: str = "direct") -> Admission:
    return Admission(
        job_id=job,
        site_id="site-1",
        dataset_id="site-1-cdm",
        site_folder=str(site),
        analysis_type=RESEARCH_POD,
        requester="researcher-kim",
        grant_id="grant-1",
        rules=DisclosureRules(),
        max_rounds=1,
    )


@pytest.fixture(scope="module")
def site_run(pod_site: Path, tmp_path_factory: pytest.TempPathFactory) -> PodRun:
    bundle = write_bundle(tmp_path_factory.mktemp("run") / "egfr", ANALYSIS, tables=("person", "measurement"))
    outcome = run_at_site(pod_site, bundle, tables=("person", "measurement"))
    assert outcome.status == "ok" and outcome.result is not None, outcome.reason
    return outcome.result


def test_site_run_sees_only_granted_columns_at_k_and_holds_outputs(pod_site: Path, site_run: PodRun) -> None:
    # Execute
    folder = pod_site / RUNS / site_run.run_id
    columns = json.loads((folder / "outputs" / "columns.json").read_text())
    # Assert: withheld columns are absent, the run is recorded whole, the outputs are held at the site
    assert site_run.status == "ok" and (folder / "logs" / "stdout.txt").read_text() == "done\n"
    assert "person_source_value" not in columns["person"] and "birth_datetime" not in columns["person"]
    assert "measurement_source_value" not in columns["measurement"] and "provider_id" not in columns["measurement"]
    assert columns["person"] == site_run.view.tables["person"]
    assert site_run.view.k == 5 and site_run.view.k_achieved is not None and site_run.view.k_achieved >= 5
    assert site_run.view.loss is not None and site_run.view.persons_in == 200
    assert {o.path for o in site_run.outputs} == {"columns.json", "by_sex.csv"}
    assert load_run(pod_site, site_run.run_id) == site_run
    events = [e["event"] for e in audit_of(pod_site, site_run.run_id)]
    assert events == ["pod.run.start", "pod.run.ok"]


def test_view_generalises_and_suppresses_persons_to_reach_k(pod_site: Path, tmp_path: Path) -> None:
    # Prepare
    grant = PodGrant(
        admission=_admission(pod_site),
        bundle_sha256="0" * 64,
        variables=[RequestedVariable(table="person", label="p")],
        target_k=20,
    )
    # Execute
    record = build_view(pod_site, grant, ["person"], tmp_path / "view")
    classes = duckdb.sql(
        f"SELECT count(*) AS n FROM '{tmp_path}/view/person.parquet' GROUP BY year_of_birth, gender_concept_id"
    ).fetchall()
    # Assert
    assert min(n for (n,) in classes) >= 20
    assert record.quasi_identifiers["year_of_birth"] >= 1 and record.rows["person"] == 200 - record.persons_suppressed
    assert (tmp_path / "view" / "person.parquet").stat().st_mode & 0o222 == 0


def test_view_cleans_free_text_in_high_recall_mode(pod_site: Path, tmp_path: Path) -> None:
    # Prepare: a copy of the site whose prescriptions carry a name and a phone number in their free text
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(pod_site / "cdm.duckdb", site / "cdm.duckdb")
    with duckdb.connect(str(site / "cdm.duckdb")) as con:
        sig = "김민준 환자 010-2345-6789 하루 두 번"
        con.execute("UPDATE drug_exposure SET sig = ? WHERE drug_exposure_id % 7 = 0", [sig])
    grant = PodGrant(
        admission=_admission(site),
        bundle_sha256="0" * 64,
        variables=[RequestedVariable(table="drug_exposure", label="d")],
    )
    # Execute
    record = build_view(site, grant, ["drug_exposure"], tmp_path / "view")
    sigs = {s for (s,) in duckdb.sql(f"SELECT DISTINCT sig FROM '{tmp_path}/view/drug_exposure.parquet'").fetchall()}
    # Assert
    assert record.free_text_columns == ["drug_exposure.sig"]
    assert not any(s and ("김민준" in s or "010-2345-6789" in s) for s in sigs)
    assert any(s and "하루 두 번" in s for s in sigs)


def test_view_narrows_a_concept_set_variable_to_its_concepts(pod_site: Path, tmp_path: Path) -> None:
    # Prepare
    with duckdb.connect(str(pod_site / "cdm.duckdb"), read_only=True) as con:
        first = con.execute("SELECT min(measurement_concept_id) FROM measurement").fetchall()[0][0]
    grant = PodGrant(
        admission=_admission(pod_site),
        bundle_sha256="0" * 64,
        variables=[RequestedVariable(table="measurement", concept_set="egfr", label="eGFR")],
        concept_sets={"egfr": [first]},
    )
    # Execute
    build_view(pod_site, grant, ["measurement"], tmp_path / "view")
    seen = duckdb.sql(f"SELECT DISTINCT measurement_concept_id FROM '{tmp_path}/view/measurement.parquet'").fetchall()
    # Assert
    assert seen == [(first,)]
    with pytest.raises(PodGrantError, match="does not allow: person"):
        build_view(pod_site, grant, ["measurement", "person"], tmp_path / "again")


def test_run_refused_without_grant_for_other_bundle_or_outside_the_grant(pod_site: Path, tmp_path: Path) -> None:
    # Prepare
    bundle = write_bundle(tmp_path / "b", "print(1)\n", tables=("person", "measurement"))
    other = PodGrant(
        admission=_admission(pod_site), bundle_sha256="0" * 64, variables=[RequestedVariable(table="person", label="p")]
    )
    runs_before = sorted((pod_site / RUNS).glob("*")) if (pod_site / RUNS).exists() else []
    # Execute / Assert
    with pytest.raises(PodGrantError, match="no grant"):
        run_bundle(pod_site, bundle, grant=None)
    with pytest.raises(PodGrantError, match="SHA-256 differs"):
        run_bundle(pod_site, bundle, grant=other)
    mine = other.model_copy(update={"bundle_sha256": bundle_sha256(bundle)})
    with pytest.raises(PodGrantError, match="not this one"):
        run_bundle(tmp_path, bundle, grant=mine)
    expired = mine.admission.model_copy(update={"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    with pytest.raises(PodGrantError, match="expired"):
        run_bundle(pod_site, bundle, grant=mine.model_copy(update={"admission": expired}))
    outcome = run_at_site(pod_site, bundle, tables=("person",))  # the grant has person, the bundle needs more
    assert outcome.status == "failed" and "does not allow: measurement" in outcome.reason
    runs_after = sorted((pod_site / RUNS).glob("*"))
    assert runs_after == runs_before  # a refused run leaves no run folder, not even a partial one


def test_guard_refuses_a_pod_job_without_a_valid_hub_ticket(pod_site: Path, tmp_path: Path) -> None:
    # Prepare: a site that trusts one hub key; a ticket signed by another key
    trusted, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    bundle = write_bundle(tmp_path / "b", "print(1)\n")
    request = pod_request(pod_site, bundle)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    forged = JobTicket(
        job_id=request.job_id,
        grant_id="grant-9",
        requester=request.requester,
        site_id="site-1",
        dataset_id="site-1-cdm",
        analysis_type=RESEARCH_POD,
        params_sha256=params_sha256(request),
        issued_at=now,
        expires_at=now + dt.timedelta(hours=1),
        max_rounds=1,
    ).signed(forger)
    binding = SiteBinding(
        site_id="site-1", folder=str(pod_site), hub_public_key=public_pem(trusted.public_key()).decode()
    )
    guard = SiteGuard(binding, HubApiGrantChecker("http://127.0.0.1:9", "unused-token"))
    ran: list[str] = []
    # Execute
    bare = guard.run(request.claim(), DisclosureRules(), lambda a: ran.append(a.job_id))
    with_forged = request.model_copy(update={"tickets": {"site-1": forged}, "job_id": request.job_id + "-f"})
    forged_outcome = guard.run(with_forged.claim(), DisclosureRules(), lambda a: ran.append(a.job_id))
    # Assert
    assert bare.status == forged_outcome.status == "refused" and ran == []
    assert "no hub ticket" in bare.reason and "does not trust" in forged_outcome.reason
    refusals = [e for e in guard.audit_log.entries() if e["event"] == "job.refuse"]
    assert {e["details"]["analysis_type"] for e in refusals[-2:]} == {RESEARCH_POD}


def test_cli_runs_at_the_site_through_the_guard_and_refuses_real_data_without_a_hub(
    pod_site: Path, tmp_path: Path
) -> None:
    # Prepare: the synthetic site, and a copy of its CDM without the synth marker (as a hospital's real data)
    bundle = write_bundle(tmp_path / "cli", "open('/pod/outputs/ok.txt', 'w').write('ok')\n")
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(pod_site / "cdm.duckdb", real / "cdm.duckdb")

    def invoke(site: Path, *extra: str) -> Result:
        path = tmp_path / f"request-{site.name}.json"
        path.write_text(pod_request(site, bundle).model_dump_json())
        args = ["pod", "run", str(bundle), "--site", str(site), "--request", str(path), "--site-id", "site-1"]
        return CliRunner().invoke(app, [*args, *extra, "--format", "json"])

    # Execute
    ran = invoke(pod_site, "--no-governance")
    refused = invoke(real, "--no-governance")
    unchecked = invoke(real)
    # Assert
    assert ran.exit_code == 0, ran.output
    run = json.loads(ran.stdout)
    assert run["status"] == "ok" and [o["path"] for o in run["outputs"]] == ["ok.txt"]
    assert refused.exit_code == PodGrantError.exit_code and "allowed only on synthetic data" in refused.output
    assert unchecked.exit_code == 2 and "--no-governance" in unchecked.output
    assert not (real / RUNS).exists()
    assert [e["event"] for e in SiteAuditLog(real).entries()] == ["job.refuse"]


R_ANALYSIS = """
person <- read.csv("/pod/data/person.csv")
measurement <- read.csv("/pod/data/measurement.csv")
joined <- merge(person["person_id"], measurement["person_id"], by = "person_id")
joined <- merge(joined, person[c("person_id", "gender_concept_id")], by = "person_id")
counts <- aggregate(person_id ~ gender_concept_id, data = joined, FUN = length)
write.table(counts[order(counts$gender_concept_id), ], "/pod/outputs/by_sex.csv", sep = ",", row.names = FALSE,
            col.names = FALSE)
"""


def test_r_bundle_reads_the_view_as_csv_and_agrees_with_python(
    pod_site: Path, site_run: PodRun, tmp_path: Path
) -> None:
    """An `analysis.R` bundle (Debian's Rscript) on the same view: the same counts as the Python bundle's."""
    if shutil.which("Rscript") is None:
        pytest.skip("!!! Debian's r-base-core is not installed: the R pod test DID NOT RUN !!!")
    # Prepare
    bundle = write_bundle(tmp_path / "r-egfr", R_ANALYSIS, tables=("person", "measurement"), entry="analysis.R")
    # Execute
    outcome = run_at_site(pod_site, bundle, tables=("person", "measurement"))
    # Assert
    assert outcome.status == "ok" and outcome.result is not None, outcome.reason
    assert outcome.result.exit_code == 0, outcome.result
    held = pod_site / RUNS / outcome.result.run_id / "outputs" / "by_sex.csv"
    python = pod_site / RUNS / site_run.run_id / "outputs" / "by_sex.csv"
    assert held.read_text().split() == python.read_text().split()
