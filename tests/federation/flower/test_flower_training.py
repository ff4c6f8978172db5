"""A federated training job through Flower's simulation engine: the guard, FedAvg, the limit, the ONNX model.

One run serves the tests (starting Ray costs tens of seconds on a small machine), hence `slow`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flower_fixtures import MIN_CELL, hub_with_grant
from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubStoreGrantChecker, SyntheticOnlyGrantChecker
from dari.federation.flower.train_apps import answer_train_round, answer_train_stats
from dari.federation.flower.train_jobs import TrainRequest, TrainRun
from dari.federation.flower.train_simulation import build_training, run_training, write_trained_model
from dari.federation.flower.train_site import admit_training
from dari.federation.guard import SiteBinding
from dari.federation.site_audit import SiteAuditLog
from dari.hub.governance.applications import AnalysisType
from dari.models import OnnxModel, load_spec
from dari.models.reference import reference_model_paths
from dari.training import centralised_fit, standardise
from dari.validation import auroc

RULES = DisclosureRules(min_cell=MIN_CELL)


def _auc(w: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(y), 1)), z]) @ w)))
    return float(auroc(y == 1.0, p).estimate)


@pytest.fixture(scope="module")
def trained(flower_sites: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainRun, TrainRequest]:
    """site-1 and site-2 granted federated training; site-3 holds no grant."""
    tmp = tmp_path_factory.mktemp("flower-train")
    hub_db = tmp / "hub.db"
    factory, _ = hub_with_grant(hub_db, ["site-1-cdm", "site-2-cdm"], [AnalysisType.FEDERATED_TRAINING])
    stranger = tmp / "site-3"
    stranger.mkdir()
    sites = [*flower_sites, stranger]
    request = build_training(sites, reference_model_paths().spec, requester="researcher", rounds=15, rules=RULES)
    run = run_training(sites, request, grant_checker=HubStoreGrantChecker(factory), hub_store=hub_db)
    return run, request


@pytest.mark.slow
def test_federated_logistic_reaches_the_centralised_limit(trained: tuple, flower_sites: list[Path]) -> None:
    run, request = trained
    assert run.trained_by == ("site-1", "site-2") and run.rounds_by_site == {"site-1": 15, "site-2": 15}
    assert run.sites["site-3"].status == "refused" and "no grant" in run.sites["site-3"].reason
    central = request.model_copy(update={"job_id": request.job_id + "-limit"})  # the pooled rows, read again
    rows = [
        admit_training(
            central, SiteBinding(site_id=s.name, folder=str(s)), SyntheticOnlyGrantChecker({f"{s.name}-cdm": str(s)})
        )
        for s in flower_sites
    ]
    x = np.vstack([c.x for _, c, _ in rows if c is not None])
    y = np.concatenate([c.y for _, c, _ in rows if c is not None])
    z = standardise(x, run.mean, run.scale)
    optimum = centralised_fit(z, y, request.l2)
    fed = np.asarray(run.weights)
    assert abs(_auc(fed, z, y) - _auc(optimum, z, y)) < 0.005
    entries = [e for e in SiteAuditLog(flower_sites[0]).entries() if e["details"].get("job") == request.job_id]
    assert [e["event"] for e in entries][:2] == ["job.admit", "job.ok"]
    assert sum(e["event"] == "job.round.ok" for e in entries) == 15


@pytest.mark.slow
def test_trained_model_exports_to_onnx_and_scores_like_its_parameters(
    trained: tuple, flower_sites: list[Path], tmp_path: Path
) -> None:
    run, request = trained
    model_path, spec_path = write_trained_model(run, request, tmp_path / "model")
    spec = load_spec(spec_path)
    model = OnnxModel.load(model_path, spec=spec)
    x = np.random.default_rng(0).normal(50, 20, size=(200, len(run.feature_names)))
    z = standardise(x, run.mean, run.scale)
    expected = 1 / (1 + np.exp(-(np.hstack([np.ones((200, 1)), z]) @ np.asarray(run.weights))))
    assert np.abs(model.predict_proba(x.astype(np.float32)) - expected).max() < 1e-4
    assert spec.linear_model is not None and spec.linear_model.intercept != 0


def _admitted(site: Path, rounds: int) -> tuple[Context, SiteBinding, TrainRequest]:
    request = build_training([site], reference_model_paths().spec, requester="r", rounds=rounds, rules=RULES)
    binding = SiteBinding(site_id=site.name, folder=str(site), floor=RULES, max_rounds=rounds)
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    stats = answer_train_stats(context, binding, SyntheticOnlyGrantChecker({f"{site.name}-cdm": str(site)}), request)
    assert stats.status == "ok" and stats.n is not None and stats.n.value
    return context, binding, request


def _round(request: TrainRequest, stats_dim: int, job_id: str | None = None) -> RecordDict:
    config = ConfigRecord({"job-id": job_id or request.job_id, "mean": [0.0] * stats_dim, "scale": [1.0] * stats_dim})
    return RecordDict({"arrays": ArrayRecord(numpy_ndarrays=[np.zeros(stats_dim + 1)]), "config": config})


def test_attack_training_rounds_beyond_the_ticket_and_for_unknown_jobs_are_refused(flower_sites: list[Path]) -> None:
    """Attack: keep asking a site for updates at chosen parameters past the job's rounds (each update is a
    gradient the hub chose where to take), or for a job the site never admitted. Now: refused and audited."""
    site = flower_sites[0]
    context, binding, request = _admitted(site, rounds=2)
    d = len(request.spec().feature_names)
    for _ in range(2):
        assert answer_train_round(context, binding, _round(request, d)).num_examples >= MIN_CELL
    with pytest.raises(RuntimeError, match="had its 2 training rounds"):
        answer_train_round(context, binding, _round(request, d))
    with pytest.raises(RuntimeError, match="no admitted training job"):
        answer_train_round(context, binding, _round(request, d, job_id="train-forged"))
    refusals = [e for e in SiteAuditLog(site).entries() if e["event"] == "job.round.refused"]
    assert any(e["details"].get("job") == "train-forged" for e in refusals)


def test_attack_broadcast_model_of_the_wrong_shape_or_nan_is_refused(flower_sites: list[Path]) -> None:
    """Attack: broadcast parameters of another size (to read back a differently shaped computation) or NaN."""
    context, binding, request = _admitted(flower_sites[1], rounds=3)
    d = len(request.spec().feature_names)
    bad = _round(request, d)
    bad["arrays"] = ArrayRecord(numpy_ndarrays=[np.full(d + 1, np.nan)])
    with pytest.raises(RuntimeError, match="refused: disclosure control"):
        answer_train_round(context, binding, bad)
    bad["arrays"] = ArrayRecord(numpy_ndarrays=[np.zeros(d + 3)])
    with pytest.raises(RuntimeError, match="refused: disclosure control"):
        answer_train_round(context, binding, bad)
