"""Federated training with SecAgg+ on Flower's simulation engine: the sum is FedAvg's, no site's update is seen.

One simulation serves the end-to-end test (Ray's start-up dominates); the hub's grid is wrapped to keep every
reply the ServerApp actually receives, so the test reads the messages' contents, not a log.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flower_fixtures import MIN_CELL
from flwr.app import Context, Message, RecordDict
from flwr.common import bytes_to_ndarray
from flwr.serverapp import Grid, ServerApp

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import SyntheticOnlyGrantChecker
from dari.federation.flower.secure_agg import SECAGG_RECORD
from dari.federation.flower.simulation import simulate, site_bindings
from dari.federation.flower.train_apps import (
    HubTrainJob,
    answer_train_round,
    answer_train_stats,
    make_train_hub_app,
    make_train_site_app,
)
from dari.federation.flower.train_jobs import TrainRequest, TrainRun
from dari.federation.flower.train_simulation import build_training
from dari.federation.flower.train_site import admit_training, site_update
from dari.federation.guard import SiteBinding
from dari.models.reference import reference_model_paths

RULES = DisclosureRules(min_cell=MIN_CELL)
ROUNDS = 3


class _RecordingGrid:
    """The ServerApp's grid, keeping every reply it hands the hub (what the hub actually receives)."""

    def __init__(self, grid: Grid) -> None:
        self._grid, self.received = grid, list[Message]()

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        self.received.extend(replies)
        return replies

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


def _checker(sites: list[Path]) -> SyntheticOnlyGrantChecker:
    return SyntheticOnlyGrantChecker({f"{s.name}-cdm": str(s) for s in sites})


@pytest.fixture(scope="module")
def secure_run(flower_sites: list[Path]) -> tuple[TrainRun, TrainRequest, list[Message]]:
    request = build_training(flower_sites, reference_model_paths().spec, requester="r", rounds=ROUNDS, rules=RULES)
    request = request.model_copy(update={"secure_aggregation": True})
    job = HubTrainJob(request=request, node_wait_s=5.0)
    hub = make_train_hub_app(job)
    recorder: list[_RecordingGrid] = []
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        recorder.append(_RecordingGrid(grid))
        hub._main(recorder[0], context)  # type: ignore[misc]

    bindings = {i: b.model_copy(update={"max_rounds": ROUNDS}) for i, b in site_bindings(flower_sites, RULES).items()}
    simulate(app, make_train_site_app(bindings, _checker(flower_sites)), len(flower_sites), 2)
    assert job.result, "the secure training produced no model"
    return job.result[0], request, recorder[0].received


def _plain_replay(sites: list[Path], run: TrainRun, request: TrainRequest) -> tuple[np.ndarray, list[np.ndarray]]:
    """FedAvg's plain weighted mean over the same rows, round by round, and each site's round-1 update."""
    replay = request.model_copy(update={"job_id": request.job_id + "-plain", "secure_aggregation": False})
    cohorts = []
    for s in sites:
        _, cohort, _ = admit_training(replay, SiteBinding(site_id=s.name, folder=str(s), floor=RULES), _checker(sites))
        assert cohort is not None
        cohorts.append(cohort)
    w = np.zeros(len(run.weights))
    first: list[np.ndarray] = []
    for r in range(ROUNDS):
        updates = [site_update(c, request, w, list(run.mean), list(run.scale)) for c in cohorts]
        if r == 0:
            first = [np.asarray(u.weights) for u in updates]
        n = np.array([u.num_examples for u in updates], dtype=np.float64)
        w = n @ np.array([u.weights for u in updates]) / n.sum()
    return w, first


@pytest.mark.slow
def test_secagg_training_sum_equals_plain_fedavg_and_hides_every_update(
    secure_run: tuple[TrainRun, TrainRequest, list[Message]], flower_sites: list[Path]
) -> None:
    # Prepare
    run, request, received = secure_run
    plain, site_updates = _plain_replay(flower_sites, run, request)
    # Assert: the SecAgg+ model is FedAvg's, to the quantisation step (2·16/2²³ per value per round)
    assert run.secure_aggregation and run.trained_by == ("site-1", "site-2")
    assert np.abs(np.asarray(run.weights) - plain).max() < 1e-4
    # Assert: no reply the hub received holds a site's update, plain or quantised: masked integers only
    train_replies = [m for m in received if m.metadata.message_type == "train" and not m.has_error()]
    assert len(train_replies) == 4 * ROUNDS * len(flower_sites)  # 4 SecAgg+ stages per round per site
    masked = 0
    for reply in train_replies:
        content: RecordDict = reply.content
        for record in content.array_records.values():
            assert len(record) == 0, "a train reply carried plain arrays"
        for key, value in content.config_records[SECAGG_RECORD].items():
            for item in value if isinstance(value, list) else [value]:
                if key == "masked_params" and isinstance(item, bytes):
                    vector = bytes_to_ndarray(item).astype(np.float64)
                    masked += vector.size == len(run.weights)
                    if vector.size == len(run.weights):
                        # what the hub would read if the masks were absent: dequantised, nowhere near an update
                        naive = vector * (2 * 16.0 / 2**23) - 16.0
                        assert all(np.abs(naive - u).max() > 1.0 for u in site_updates)
                        assert vector.max() > 2**28  # masks spread the integers over [0, 2³²)
    assert masked == ROUNDS * len(flower_sites)


def test_secagg_admitted_site_refuses_a_plain_round(flower_sites: list[Path]) -> None:
    """Attack: the hub admits a job for secure aggregation, then asks for a plain update. Refused."""
    site = flower_sites[0]
    request = build_training([site], reference_model_paths().spec, requester="r", rounds=2, rules=RULES)
    request = request.model_copy(update={"secure_aggregation": True})
    binding = SiteBinding(site_id=site.name, folder=str(site), floor=RULES, max_rounds=2)
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    assert answer_train_stats(context, binding, _checker([site]), request).status == "ok"
    d = len(request.spec().feature_names)
    from flwr.app import ArrayRecord, ConfigRecord

    config = ConfigRecord({"job-id": request.job_id, "mean": [0.0] * d, "scale": [1.0] * d})
    plain = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=[np.zeros(d + 1)]), "config": config})
    with pytest.raises(RuntimeError, match="secure aggregation"):
        answer_train_round(context, binding, plain)
