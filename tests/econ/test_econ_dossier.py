"""`dari econ dossier`: validation, economics, model card and real-world evidence bound, traceable, in ko and en."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner
from validated import SHA

from dari.cli.econ import app
from dari.econ import analyse, apply_validation, load_model, load_validation
from dari.econ.hospital import HospitalInputs, hospital_view
from dari.models.reference import reference_model_paths
from dari.monitoring.publication import (
    Alert,
    LivePerformance,
    MonitoringPolicy,
    MonitoringPublication,
    MonitoringWindow,
    ServiceActivity,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory, validation_file: Path) -> dict[str, Path]:
    """A card for the validated model, an econ run on its validation, a monitoring publication, hospital inputs."""
    root = tmp_path_factory.mktemp("dossier")
    card = json.loads(reference_model_paths().card.read_text(encoding="utf-8"))
    card["model_sha256"] = SHA  # the synthetic validation's model
    (root / "card.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    model = load_model(Path(str(resources.files("dari.econ") / "examples" / "ckd_ai_screening.toml")))
    spec = apply_validation(model, load_validation(validation_file), str(validation_file))
    (root / "econ.json").write_text(json.dumps(analyse(spec).to_dict(), ensure_ascii=False), encoding="utf-8")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    alert = Alert(
        kind="calibration",
        severity="warning",
        subject="oe_ratio",
        value=1.4,
        threshold=1.25,
        message_en="observed/expected 1.40 above 1.25",
        message_ko="관찰/기대 1.40, 기준 1.25 초과",
    )
    window = MonitoringWindow(
        start=start,
        end=start + timedelta(days=7),
        activity=ServiceActivity(calls=812, scored=790, feedback_accepted=90, feedback_overridden=10),
        drift=[],
        performance=LivePerformance(n=400, events=60, auroc=0.781, validated_auroc=0.80, oe_ratio=1.4),
        alerts=[alert],
    )
    pub = MonitoringPublication(
        site_id="site-1",
        model_sha256=SHA,
        model_name="ckd",
        model_version="2.0.0",
        report_id="report-1",
        generated_at=start,
        policy=MonitoringPolicy(),
        windows=[window],
    )
    (root / "monitoring.json").write_text(pub.model_dump_json(), encoding="utf-8")
    (root / "hospital.toml").write_text(
        "[hospital]\nuses = [1000, 2000]\nfee_per_use = 20000\nreimbursement_per_use = 25000\n"
        "staff_minutes_per_use = 3\nstaff_cost_per_hour = 60000\nfixed_costs = [5000000, 1000000]\n",
        encoding="utf-8",
    )
    return {
        "card": root / "card.json",
        "validation": validation_file,
        "econ": root / "econ.json",
        "monitoring": root / "monitoring.json",
        "hospital": root / "hospital.toml",
        "root": root,
    }


def test_dossier_binds_every_part_traceably_in_both_languages(parts: dict[str, Path]) -> None:
    out = parts["root"] / "out"
    args = ["dossier", "--out", str(out), *(f"--{k}={parts[k]}" for k in ("card", "validation", "econ"))]
    res = runner.invoke(app, [*args, "--monitoring", str(parts["monitoring"]), "--hospital", str(parts["hospital"])])
    assert res.exit_code == 0, res.output
    ko = (out / "dossier.html").read_text(encoding="utf-8")
    en = (out / "dossier.en.html").read_text(encoding="utf-8")
    validation = json.loads(parts["validation"].read_text(encoding="utf-8"))
    sens = validation["pooled"]["accuracy"]["sensitivity"]["estimate"]
    assert "다기관 외부 검증" in ko and f"{sens:.3f}" in ko and "관찰/기대 1.40" in ko and "만원" in ko
    assert "Traceability" in en and "observed/expected 1.40" in en and "10.0%" in en  # override rate 10 of 100
    digest = hashlib.sha256(parts["validation"].read_bytes()).hexdigest()
    assert digest in ko and digest in en and "job-econ0001" in en and "grant-0042" in en
    assert (out / "dossier.pdf").read_bytes().startswith(b"%PDF") and (out / "dossier.en.pdf").stat().st_size > 0


def test_dossier_refuses_evidence_about_another_model(parts: dict[str, Path]) -> None:
    card = json.loads(parts["card"].read_text(encoding="utf-8"))
    card["model_sha256"] = "cd" * 32
    other = parts["root"] / "other-card.json"
    other.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    out = parts["root"] / "refused"
    res = runner.invoke(
        app,
        [
            "dossier",
            "--card",
            str(other),
            "--validation",
            str(parts["validation"]),
            "--econ",
            str(parts["econ"]),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 2 and "is not the card's" in res.stderr and not out.exists()


def test_hospital_view_nets_reimbursement_against_fees_staff_and_fixed_costs() -> None:
    years = hospital_view(
        HospitalInputs(
            uses=[1000],
            fee_per_use=20000,
            reimbursement_per_use=25000,
            staff_minutes_per_use=3,
            staff_cost_per_hour=60000,
            fixed_costs=[5e6],
        )
    )
    # 1000 × 25,000 − 1000 × 20,000 − 50 h × 60,000 − 5,000,000 = −3,000,000
    assert years[0].staff_hours == 50 and years[0].net == pytest.approx(-3_000_000)
