"""A validation job on Flower's deployment engine on loopback: SuperLink, two SuperNodes, `flwr run`.

The real processes and the real apps (`hub_app:app`, `site_app:app` reading node and run config); the pooled
result must agree with the centralised computation on the same rows. Every ClientApp message starts a fresh
process, so the job takes minutes on a small machine, hence `slow`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flower_deployment import LoopbackFederation, app_pyproject, missing_binaries
from flower_fixtures import MIN_CELL

from dari.cli.validate import centralised_rows
from dari.disclosure import DisclosureRules
from dari.federation.flower.jobs import ValidationRun
from dari.federation.flower.simulation import build_job
from dari.models.reference import reference_model_paths
from dari.validation import ValidationSpec, centralised_pooled_metrics

pytestmark = pytest.mark.slow

THRESHOLD = 0.2
#: About 13 messages per node, each a fresh ClientApp process (~3.5 min measured on a loaded 2-core machine).
RESULT_WAIT_S = 420.0


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackFederation]:
    """A running loopback federation, always torn down (with every process Flower spawned)."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"FLOWER DEPLOYMENT TEST SKIPPED: Flower binaries missing from the venv: {', '.join(missing)}")
    federation = LoopbackFederation(tmp_path_factory.mktemp("flower-deploy"))
    try:
        yield federation
    finally:
        survivors = federation.stop()
        assert not survivors, f"Flower processes survived the teardown: {survivors}"


@pytest.fixture(scope="module")
def deployed_run(deployment: LoopbackFederation, flower_sites: list[Path]) -> tuple[ValidationRun, dict[str, object]]:
    """site-1 and site-2 validated through `flwr run`: the result file the ServerApp wrote, and `flwr run`'s answer."""
    root = deployment.root
    deployment.start_superlink()
    for folder in flower_sites:
        deployment.start_supernode(folder.name, folder.resolve())
    ref = reference_model_paths()
    job, model = build_job(
        flower_sites,
        ref.model,
        ref.spec,
        requester="researcher",
        threshold=THRESHOLD,
        rules=DisclosureRules(min_cell=MIN_CELL),
    )
    job_file, model_file, result_file = root / "job.json", root / "model.onnx", root / "result.json"
    job_file.write_text(job.model_dump_json(), encoding="utf-8")
    model_file.write_bytes(model)
    app_dir = root / "app"
    app_dir.mkdir()
    (app_dir / "pyproject.toml").write_text(app_pyproject(job_file, model_file, result_file), encoding="utf-8")
    answer = deployment.flwr_run(app_dir)
    deadline = time.monotonic() + RESULT_WAIT_S
    while not result_file.exists():
        deployment.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"no result after {RESULT_WAIT_S:.0f} s\n{deployment.log_tail()}")
        time.sleep(2.0)
    return ValidationRun.model_validate_json(result_file.read_text(encoding="utf-8")), answer


def test_flower_deployment_pooled_matches_centralised(
    deployed_run: tuple[ValidationRun, dict[str, object]], flower_sites: list[Path]
) -> None:
    run, _ = deployed_run
    ref = reference_model_paths()
    rows = centralised_rows(flower_sites, ref.model, ref.spec)
    y = np.concatenate([r.y for _, r in rows])
    p = np.concatenate([r.p for _, r in rows])
    central = centralised_pooled_metrics(y, p, ValidationSpec(threshold=THRESHOLD), sites=2)
    assert run.pooled is not None
    assert run.pooled.n == central.n and run.pooled.events == central.events
    assert abs(run.pooled.auroc.estimate - central.auroc.estimate) < 1e-3
    assert abs(run.pooled.calibration_slope.estimate - central.calibration_slope.estimate) < 1e-6
    assert abs(run.pooled.citl.estimate - central.citl.estimate) < 1e-6
    assert abs(run.pooled.brier.brier - central.brier.brier) < 1e-12


def test_flower_deployment_every_site_ok(deployed_run: tuple[ValidationRun, dict[str, object]]) -> None:
    run, answer = deployed_run
    assert answer["success"] is True and answer["fab-id"] == "dari/dari-validation-job"
    assert run.engine == "deployment"
    assert run.covered == ("site-1", "site-2") and run.refused == () and run.failed == ()
    assert {s: r.status for s, r in run.sites.items()} == {"site-1": "ok", "site-2": "ok"}
    # each site's own report counts its own cohort; together they are the pooled cohort
    assert run.pooled is not None
    assert sum(r.statistics.n for r in run.sites.values() if r.statistics) == run.pooled.n
    assert "person_id" not in json.dumps(run.model_dump(mode="json"))
