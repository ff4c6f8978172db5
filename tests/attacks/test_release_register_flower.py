"""Attack through Flower itself: sites answer the hub's validation job with forged reports.

One run of the simulation engine (Ray start-up is slow here, hence `slow`): site-1 answers honestly (its report
and every Newton round); site-2 is a man in the middle's rewrite of an honest report with a cohort of 4 under rules
it names itself; site-3 sends `shown="3", value=3` under the default rules, which does not even parse. Before: the
hub pooled site-2 and crashed on site-3. Now: both are failed with the hub's reason; the pool is site-1 alone.
"""

from __future__ import annotations

import json
import warnings

import pytest
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from release_examples import MODEL_SHA, RULES, rows, site_report

from dari.federation.flower.hub_app import HubJob, make_hub_app
from dari.federation.flower.jobs import CalibrationQuery, CalibrationReply, JobRequest
from dari.federation.flower.simulation import simulate
from dari.federation.flower.site_app import PAYLOAD
from dari.models.reference import reference_model_paths
from dari.validation import UndefinedMetricWarning, site_logistic_step

pytestmark = pytest.mark.slow


def _forged_sites(reports: list[str], site_ids: list[str]) -> ClientApp:
    """Node i answers round 1 with reports[i]; Newton rounds with honest sums over the example rows."""
    y, p, _ = rows()
    app = ClientApp()

    def reply(message: Message, text: str) -> Message:
        return Message(RecordDict({PAYLOAD: ConfigRecord({"json": text})}), reply_to=message)

    @app.query("validate")
    def validate(message: Message, context: Context) -> Message:
        return reply(message, reports[int(context.node_config["partition-id"])])

    @app.query("calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        query = CalibrationQuery.model_validate_json(str(message.content.config_records[PAYLOAD]["json"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            steps = tuple(site_logistic_step(y, p, q.params, q.offset_mode, RULES) for q in query.steps)
        site = site_ids[int(context.node_config["partition-id"])]
        return reply(message, CalibrationReply(site_id=site, status="ok", steps=steps).model_dump_json())

    return app


def test_attack_forged_reports_through_flower_are_failed_not_pooled() -> None:
    # Prepare
    honest = site_report("site-1")
    forged = json.loads(site_report("site-2").model_dump_json())
    forged["cohort"] = {"shown": "4", "value": 4, "suppressed": False, "rules": {"min_cell": 1, "rounding_base": 1}}
    unparseable = json.loads(site_report("site-3").model_dump_json())
    unparseable["cohort"] = {"shown": "3", "value": 3, "suppressed": False}
    reports = [honest.model_dump_json(), json.dumps(forged), json.dumps(unparseable)]
    sites = ["site-1", "site-2", "site-3"]
    request = JobRequest(
        requester="researcher",
        datasets={s: f"{s}-cdm" for s in sites},
        model_sha256=MODEL_SHA,
        spec_json=reference_model_paths().spec.read_text(encoding="utf-8"),
        disclosure=RULES,
    )
    job = HubJob(request=request, model_bytes=None, node_wait_s=10.0)
    # Execute
    simulate(make_hub_app(job), _forged_sites(reports, sites), num_supernodes=3, num_cpus=2)
    # Assert
    run = job.result[0]
    assert run.covered == ("site-1",) and run.failed == ("site-2", "site-3")
    assert run.sites["site-2"].reason.startswith("hub re-check refused the release: SiteReport.cohort")
    assert "unreadable SiteReport (cohort)" in run.sites["site-3"].reason
    assert run.sites["site-2"].cohort is None and run.sites["site-2"].statistics is None
    assert run.pooled is not None and honest.statistics is not None
    assert (run.pooled.n, run.pooled.events) == (honest.statistics.n, honest.statistics.events)
