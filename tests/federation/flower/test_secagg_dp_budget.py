"""The DRB's ε budget on a real hub grant, enforced by the site's guard on real training rounds (no Flower engine).

The hub store issues the grant; the DRB sets its ε budget; the site admits a DP training job through the guard
(`HubStoreGrantChecker`: the decision carries the budget), answers rounds with DP-SGD updates until the next one
would exceed the budget, and refuses that one — audited at the site, the ε ledger unchanged by the refusal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flower_fixtures import MIN_CELL, hub_with_grant
from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict
from sqlalchemy import select
from typer.testing import CliRunner

from dari.cli.app import app as cli
from dari.disclosure import DisclosureRules
from dari.federation.dp_budget import budget_path, spent
from dari.federation.flower.grants import HubStoreGrantChecker
from dari.federation.flower.train_apps import answer_train_round, answer_train_stats
from dari.federation.flower.train_simulation import build_training, with_training_tickets
from dari.federation.guard import SiteBinding
from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import hub_public_pem
from dari.hub.db.models import AuditEntry
from dari.hub.governance.applications import AnalysisType
from dari.hub.governance.errors import ConflictError
from dari.hub.governance.privacy_budget import set_epsilon_budget
from dari.models.reference import reference_model_paths
from dari.training.dp import DpSettings, epsilon_spent

RULES = DisclosureRules(min_cell=MIN_CELL)


def test_secagg_dp_site_refuses_the_round_beyond_the_drbs_epsilon_budget(
    flower_sites: list[Path], tmp_path: Path
) -> None:
    # Prepare: a grant for federated training at site-1, its ε budget set by the DRB between 2 and 3 rounds' ε
    site = flower_sites[0]
    factory, grant_id = hub_with_grant(tmp_path / "hub.db", ["site-1-cdm"], [AnalysisType.FEDERATED_TRAINING])
    dp = DpSettings(noise_multiplier=8.0, clipping_norm=1.0)
    budget = (epsilon_spent(dp, 2 * 5) + epsilon_spent(dp, 3 * 5)) / 2
    db = str(tmp_path / "hub.db")
    refused = CliRunner().invoke(
        cli, ["hub", "grant-budget", grant_id, "--epsilon", "9", "--actor", "researcher", "--db", db]
    )
    assert refused.exit_code != 0 and "only a DRB member" in refused.output
    cli_args = ["hub", "grant-budget", grant_id, "--epsilon", repr(budget), "--actor", "drb1", "--db", db]
    assert CliRunner().invoke(cli, cli_args).exit_code == 0
    with factory() as s, s.begin(), pytest.raises(ConflictError, match="only be lowered"):
        set_epsilon_budget(s, grant_id, budget * 2, actor="drb1")
    request = build_training([site], reference_model_paths().spec, requester="researcher", rounds=5, rules=RULES)
    request = with_training_tickets(request.model_copy(update={"dp": dp}), tmp_path / "hub.db")
    pem = hub_public_pem(tmp_path / "hub.db")
    binding = SiteBinding(site_id=site.name, folder=str(site), floor=RULES, max_rounds=5, hub_public_key=pem)
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    stats = answer_train_stats(context, binding, HubStoreGrantChecker(factory), request)
    assert stats.status == "ok" and stats.grant_id == grant_id, stats.reason
    d = len(request.spec().feature_names)
    config = ConfigRecord({"job-id": request.job_id, "mean": list(stats.mean), "scale": [1.0] * d})
    content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=[np.zeros(d + 1)]), "config": config})
    # Execute / Assert: two noisy rounds fit in the budget (each a different draw), the third is refused
    first = answer_train_round(context, binding, content)
    second = answer_train_round(context, binding, content)
    assert first.weights != second.weights  # fresh noise every round
    ledger = budget_path(site).read_bytes()
    with pytest.raises(RuntimeError, match="would spend"):
        answer_train_round(context, binding, content)
    assert budget_path(site).read_bytes() == ledger
    assert spent(site, grant_id) == pytest.approx(epsilon_spent(dp, 10)) and spent(site, grant_id) <= budget
    entries = [e for e in SiteAuditLog(site).entries() if e["details"].get("job") == request.job_id]
    assert [e["event"] for e in entries if e["event"].startswith(("privacy", "job.round"))] == [
        "privacy.spend",
        "job.round.ok",
        "privacy.spend",
        "job.round.ok",
        "job.round.refused",
    ]
    assert "budget" in entries[-1]["details"]["reason"]
    with factory() as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.action == "grant.privacy_budget")).all()
        assert len(actions) == 1  # the refused raise was rolled back with its audit entry
