"""Federated model validation on Flower: the hub's ServerApp, each site's ClientApp, and a simulation runner.

A job (`jobs.JobRequest`) travels from the hub to every site with a hub-signed ticket per site
(`dari.federation.ticket`); each site passes it through the site guard (`dari.federation.guard`: its own
dataset, the ticket, the grant, its own floor, its audit), scores the model on its own CDM and returns only
disclosure-controlled aggregates (`jobs.SiteReport`); the hub pools them (`dari.validation`) over a few Newton
rounds for calibration, each of which the sites check against their own replay of the path (`calibration`).
`simulation.run_validation` runs the same apps in Flower's simulation engine over local site folders.
docs/federation.md tells the whole story.
"""

from dari.federation.flower.grants import (
    GrantChecker,
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
    is_synthetic_site,
)
from dari.federation.flower.jobs import JobRequest, SiteReport, ValidationRun

__all__ = [
    "GrantChecker",
    "HubApiGrantChecker",
    "HubStoreGrantChecker",
    "JobRequest",
    "SiteReport",
    "SyntheticOnlyGrantChecker",
    "ValidationRun",
    "is_synthetic_site",
]
