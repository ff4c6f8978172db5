"""The deployed training ServerApp: `dari.federation.flower.train_apps`' hub app, its job from run-config files.

The training module builds its hub app around one job in memory (`make_train_hub_app`); a deployment's job comes
as files named in the run config (`request-file`), as the validation and query apps' `_deployed_main` do.
"""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from dari.atomic import atomic_path
from dari.federation.flower.train_apps import HubTrainJob, make_train_hub_app
from dari.federation.flower.train_jobs import TrainRequest


def _deployed_main(grid: Grid, context: Context) -> None:
    """Train on the request in `request-file`; the `TrainRun` goes to `result-file` (written once, atomically)."""
    cfg = context.run_config
    request = TrainRequest.model_validate_json(Path(str(cfg["request-file"])).read_text(encoding="utf-8"))
    job = HubTrainJob(request=request, node_wait_s=120.0)
    make_train_hub_app(job)(grid=grid, context=context)
    result = Path(str(cfg["result-file"]))
    if job.result:  # no site admitted the job: no result file, the run's caller reports the failure
        with atomic_path(result) as tmp:
            tmp.write_text(job.result[0].model_dump_json(indent=2), encoding="utf-8")


#: The deployed app (an app whose pyproject names `dari.federation.consortium.train_deployed:hub_app`).
hub_app = ServerApp()
hub_app.main()(_deployed_main)
