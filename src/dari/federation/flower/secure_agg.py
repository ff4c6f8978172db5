"""Secure aggregation with Flower 1.41's SecAgg+: the hub learns the weighted sum of the sites' vectors, never one.

Server side, `secure_weighted_mean` runs the four stages of `flwr.server.workflow.SecAggPlusWorkflow` (setup:
public keys; share keys: Shamir shares of each site's mask seed and key, encrypted site to site; collect masked
vectors; unmask) over a Message-API `Grid`, for one vector per admitted node. The workflow was written for the
legacy strategy API, so it runs here inside a `LegacyContext` whose strategy only hands the workflow its nodes
(`configure_fit`) and takes the unmasked result (`aggregate_fit`); the round's content — dari's own `RecordDict`
with the global parameters and the job's config — goes in unchanged at the 'collect masked vectors' stage.

Site side, `secure_train_mod` sits on the ClientApp's `train` handler. A `train` message carrying SecAgg+'s
config record goes through `flwr.client.mod.secaggplus_mod`: setup, share-keys and unmask are answered by the mod
alone; at 'collect masked vectors' the site's own handler runs (through the site guard, as every round) and the
mod quantises its update, multiplies by its weight, adds the pairwise and private masks and sends only the masked
integers. A plain `train` message passes through untouched.

What the hub receives per site is uniform modulo `modulus_range`; only the sum over the surviving sites unmasks,
to Σ wᵢ·xᵢ / Σ wᵢ with each weighted value wᵢxᵢ/W (W = `max_weight`) clipped to ±`clipping_range` and
stochastically rounded (unbiased) to a grid of step 2·clipping_range/quantization_range: with W = Σ wᵢ the mean
is at most K steps off for K sites (Bell et al. 2020, CCS; integer inputs on the grid quantise exactly).
Refs: Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017;
Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020 (SecAgg+).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Code, FitIns, FitRes, Parameters, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import Strategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState
from flwr.serverapp import Grid

from dari.errors import DariError

#: The config record SecAgg+ adds to every message of its protocol (what `secure_train_mod` looks for).
SECAGG_RECORD = RECORD_KEY_CONFIGS
#: Mask arithmetic is modulo 2³²; quantised values of up to 2⁹ sites must sum below it.
MODULUS_RANGE = 2**32
QUANTIZATION_RANGE = 2**23


class SecureAggregationError(DariError):
    """The SecAgg+ protocol halted (too few sites, or too many dropped out to unmask the sum)."""


@dataclass(frozen=True)
class SecureSettings:
    """SecAgg+'s parameters: the clipping range of each value, the quantisation grid, the share threshold."""

    clipping_range: float = 16.0
    quantization_range: int = QUANTIZATION_RANGE
    reconstruction_threshold: float = 0.6  # of the shares: at least 2 sites must join to unmask a drop-out
    timeout: float | None = 600.0

    def step(self) -> float:
        """The quantisation step: the most a site's (weighted) value moves when it is rounded."""
        return 2 * self.clipping_range / self.quantization_range


@dataclass(frozen=True)
class SecureResult:
    """The unmasked weighted mean and the nodes whose vectors it sums."""

    arrays: list[np.ndarray]
    nodes: tuple[int, ...]


class _Nodes(Strategy):
    """The legacy strategy SecAgg+'s workflow asks: these nodes, and the one result it unmasks."""

    def __init__(self, proxies: list[ClientProxy]) -> None:
        self.proxies, self.aggregate = proxies, cast(Parameters | None, None)
        self.results = 0

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        """Every admitted node (the round's own content is set at the masked-vector stage)."""
        return [(p, FitIns(Parameters(tensors=[], tensor_type="numpy.ndarray"), {})) for p in self.proxies]

    def aggregate_fit(
        self, server_round: int, results: list[tuple[ClientProxy, FitRes]], failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Any]]:
        """The workflow has put the unmasked mean into every result: take it once."""
        self.results = len(results)
        self.aggregate = results[0][1].parameters if results else None
        return self.aggregate, {}

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        """Unused: the job sets the parameters."""
        return None

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: ClientManager) -> list[Any]:
        """Unused: no evaluation round."""
        return []

    def aggregate_evaluate(
        self, server_round: int, results: list[Any], failures: list[Any]
    ) -> tuple[None, dict[str, Any]]:
        """Unused: no evaluation round."""
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> None:
        """Unused: the hub holds no data."""
        return None


class _Workflow(SecAggPlusWorkflow):
    """SecAgg+ whose 'collect masked vectors' stage sends dari's round content instead of legacy FitIns."""

    def __init__(self, contents: Mapping[int, RecordDict], settings: SecureSettings, max_weight: float) -> None:
        super().__init__(
            num_shares=1.0,  # every site shares with every other: 3–20 hospitals, not thousands of phones
            reconstruction_threshold=settings.reconstruction_threshold,
            max_weight=max_weight,
            clipping_range=settings.clipping_range,
            quantization_range=settings.quantization_range,
            modulus_range=MODULUS_RANGE,
            timeout=settings.timeout,
        )
        self.contents = contents
        self.sampled: set[int] = set()
        self.active: set[int] = set()

    def setup_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Flower's setup stage, remembering which nodes were asked."""
        ok = bool(super().setup_stage(grid, context, state))
        self.sampled = set(state.sampled_node_ids)
        return ok

    def collect_masked_vectors_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Flower's stage with each node's own round content (a copy: the workflow adds its config to it)."""
        state.nid_to_fitins = {nid: _copy(self.contents[nid]) for nid in state.nid_to_fitins}
        return bool(super().collect_masked_vectors_stage(grid, context, state))

    def unmask_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Flower's unmask stage, remembering whose vectors the sum holds."""
        self.active = set(state.active_node_ids)
        return bool(super().unmask_stage(grid, context, state))


def _copy(content: RecordDict) -> RecordDict:
    out = RecordDict()
    for key, arrays in content.array_records.items():
        out[key] = ArrayRecord(numpy_ndarrays=arrays.to_numpy_ndarrays())
    for key, config in content.config_records.items():
        out[key] = ConfigRecord(dict(config))
    for key, metrics in content.metric_records.items():
        out[key] = metrics
    return out


def secure_weighted_mean(
    grid: Grid,
    contents: Mapping[int, RecordDict],
    *,
    max_weight: float,
    server_round: int,
    settings: SecureSettings | None = None,
) -> SecureResult:
    """Σ wᵢ·xᵢ / Σ wᵢ of the vectors the nodes' `train` handlers return for `contents`, by SecAgg+.

    `max_weight` bounds every site's weight wᵢ (its `num-examples`); the hub passes the admitted total, so each
    weight is quantised as a fraction of it. Raises `SecureAggregationError` when the protocol halts.
    """
    settings = settings or SecureSettings()
    if len(contents) < 2:
        raise SecureAggregationError("secure aggregation needs at least 2 sites (one site's sum is its update)")
    base = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config={})
    proxies: list[ClientProxy] = [GridClientProxy(nid, grid, grid.run.run_id) for nid in contents]
    strategy = _Nodes(proxies)
    context = LegacyContext(base, strategy=strategy)
    context.state[MAIN_CONFIGS_RECORD] = ConfigRecord({WorkflowKey.CURRENT_ROUND: server_round})
    context.state[MAIN_PARAMS_RECORD] = ArrayRecord(numpy_ndarrays=[])
    workflow = _Workflow(contents, settings, max_weight)
    workflow(grid, context)
    if strategy.aggregate is None:
        raise SecureAggregationError(
            f"SecAgg+ halted in round {server_round}: fewer sites answered than its threshold needs"
        )
    arrays = parameters_to_ndarrays(strategy.aggregate)
    return SecureResult(arrays=arrays, nodes=tuple(sorted(workflow.active)))


def secure_fedavg(
    grid: Grid,
    node_of: Mapping[str, int],
    initial: np.ndarray,
    *,
    rounds: int,
    config: ConfigRecord,
    max_weight: float,
    settings: SecureSettings | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[np.ndarray, list[list[str]]]:
    """FedAvg (or FedProx: its proximal term is the sites') whose every round's average is a SecAgg+ sum.

    Each round the global parameters and `config` go to every site still in the run; the weighted mean of their
    updates is the next global model. Returns the model and, per round, the sites whose updates it summed.
    """
    weights, log = initial, []
    site_of = {n: s for s, n in node_of.items()}
    live = dict(node_of)
    for server_round in range(1, rounds + 1):
        round_config = ConfigRecord({**dict(config), "server-round": server_round})
        content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=[weights]), "config": round_config})
        result = secure_weighted_mean(
            grid,
            {n: content for n in live.values()},
            max_weight=max_weight,
            server_round=server_round,
            settings=settings,
        )
        (mean,) = result.arrays
        if mean.shape != weights.shape or not np.isfinite(mean).all():
            raise SecureAggregationError(f"round {server_round}: the unmasked sum is not a model of this size")
        summed = sorted(site_of[n] for n in result.nodes)
        for gone in sorted(set(live) - set(summed)):
            progress(f"{gone} left round {server_round} out (the sum of the others was unmasked)")
        log.append(summed)
        weights = mean
    return weights, log


def secure_train_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """The site's SecAgg+ mod: a `train` message of the protocol goes through `secaggplus_mod`; others pass."""
    if msg.metadata.message_type != "train" or SECAGG_RECORD not in msg.content.config_records:
        return call_next(msg, ctxt)
    return secaggplus_mod(msg, ctxt, _legacy_reply(call_next))


def _legacy_reply(call_next: ClientAppCallable) -> Callable[[Message, Context], Message]:
    """The site's handler, its reply (`arrays` + `num-examples`) put the way `secaggplus_mod` reads a FitRes."""

    def handler(msg: Message, ctxt: Context) -> Message:
        reply = call_next(msg, ctxt)
        if reply.has_error():  # the mod then fails this node: it drops out and the others' sum still unmasks
            raise SecureAggregationError(f"the site's handler refused the round: {reply.error.reason}")
        arrays = reply.content.array_records["arrays"].to_numpy_ndarrays()
        num = reply.content.metric_records["metrics"]["num-examples"]
        if not isinstance(num, int | float):
            raise SecureAggregationError("num-examples is not a number")
        fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), int(num), {})
        return Message(compat.fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)

    return handler
