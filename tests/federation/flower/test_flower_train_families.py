"""Federated model families through Flower's simulation engine, and from training to evidence.

Two real simulations (each pays Ray's start-up): xgboost trees by FedXgbBagging with a site that drops out and a
checkpoint each round; then leave-one-site-out for an MLP (train at site-2, validate at site-1 with the existing
validation job), its card, report, registry entry and the deployment gate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from flower_fixtures import MIN_CELL, hub_with_grant

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubStoreGrantChecker, SyntheticOnlyGrantChecker
from dari.federation.flower.train_checkpoint import read_checkpoint
from dari.federation.flower.train_evidence import leave_one_site_out
from dari.federation.flower.train_simulation import build_training, run_training, write_trained_model
from dari.federation.flower.train_site import admit_training
from dari.federation.guard import SiteBinding
from dari.hub.governance.applications import AnalysisType
from dari.models.model_card import load_card
from dari.models.reference import reference_model_paths
from dari.training.boosted import boosted_predict, check_trees
from dari.validation import auroc

RULES = DisclosureRules(min_cell=MIN_CELL)


@pytest.mark.slow
def test_flower_train_xgboost_bagging_with_a_dropout_and_checkpoints(flower_sites: list[Path], tmp_path: Path) -> None:
    # Prepare: site-2's own node config allows one round only (it stops answering after it)
    checker = SyntheticOnlyGrantChecker({f"{s.name}-cdm": str(s) for s in flower_sites})
    request = build_training(
        flower_sites,
        reference_model_paths().spec,
        requester="r",
        strategy="fedxgb_bagging",
        model="xgboost",
        rounds=3,
        rules=RULES,
        eta=0.3,
    )
    checkpoint = tmp_path / "checkpoint.json"
    # Execute
    run = run_training(
        flower_sites, request, grant_checker=checker, checkpoint=checkpoint, site_max_rounds={"site-2": 1}
    )
    # Assert: the run went on without site-2 and says so; 2 + 1 + 1 trees; the checkpoint is the final model
    assert run.model == "xgboost" and run.trained_by == ("site-1",)
    assert run.rounds_by_site == {"site-1": 3, "site-2": 1} and run.dropped_out == {"site-2": 2}
    assert check_trees(run.trees.encode(), len(run.feature_names)) == 4
    saved = read_checkpoint(checkpoint, request)
    assert saved is not None and saved.round == 3 and saved.trees == run.trees
    model_path, _spec = write_trained_model(run, request, tmp_path / "model")
    _stats, cohort, _ = admit_training(
        request.model_copy(update={"job_id": "train-rows"}),
        SiteBinding(site_id="site-1", folder=str(flower_sites[0])),
        SyntheticOnlyGrantChecker({"site-1-cdm": str(flower_sites[0])}),
    )
    assert cohort is not None
    p = boosted_predict(run.trees.encode(), cohort.x)
    session = ort.InferenceSession(model_path.read_bytes())
    (onnx_p,) = session.run(["probabilities"], {"input": cohort.x.astype(np.float32)})
    assert np.abs(onnx_p[:, 1] - p).max() < 1e-5
    assert auroc(cohort.y == 1.0, p).estimate > 0.7


@pytest.mark.slow
def test_flower_train_leave_one_site_out_mlp_to_validation_registry_and_gate(
    flower_sites: list[Path], tmp_path: Path
) -> None:
    # Prepare: a hub whose grant covers training and validation at both sites
    hub_db = tmp_path / "hub.db"
    types = [AnalysisType.FEDERATED_TRAINING, AnalysisType.MODEL_VALIDATION]
    factory, _ = hub_with_grant(hub_db, ["site-1-cdm", "site-2-cdm"], types)

    def request_for(sites: list[Path]):  # type: ignore[no-untyped-def]
        spec = reference_model_paths().spec
        return build_training(sites, spec, requester="researcher", model="mlp", hidden=4, rounds=8, rules=RULES)

    # Execute: hold site-1 out (train at site-2 only, validate at site-1)
    evidence = leave_one_site_out(
        flower_sites,
        request_for,
        tmp_path / "loso",
        held_out=["site-1"],
        grant_checker=HubStoreGrantChecker(factory),
        hub_store=hub_db,
    )
    # Assert: trained where it was not validated; the validation job's results, card, report and registry
    ev = evidence["site-1"]
    assert ev.run.trained_by == ("site-2",) and ev.validated_at == ("site-1",)
    results = json.loads(ev.results.read_text(encoding="utf-8"))
    assert results["covered"] == ["site-1"] and results["sites"]["site-1"]["auroc"] > 0.6
    card = load_card(ev.card)
    assert card.training is not None and card.training.model_family == "mlp" and card.training.privacy is None
    assert [s.site for s in card.training.sites] == ["site-2"] and card.training.grant_ids
    assert card.performance[0].setting == "external" and card.performance[0].site == "site-1"
    assert card.linear_model is None if hasattr(card, "linear_model") else True
    html = next(p for p in ev.reports if p.name == "validation_report.en.html").read_text(encoding="utf-8")
    assert "Federated training" in html and "privacy: none" in html
    assert ev.report_id and ev.gate == {"site-1": "no validation report of this model is approved for this site"}
    from dari.hub.governance.deployment import approve_deployment, deployment_allowed
    from dari.hub.governance.users import get_user
    from dari.models import sha256_file

    with factory() as session, session.begin():
        approve_deployment(session, get_user(session, "approver1"), ev.report_id)
    with factory() as session:
        assert deployment_allowed(session, sha256_file(ev.model), "site-1").allowed
