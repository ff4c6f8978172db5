"""Run a query job (feasibility or characterisation) in Flower's simulation engine over local site folders.

The same ServerApp and ClientApp as a deployment: virtual node `partition-id` i is site folder i (dataset id
`<site-id>-cdm`), and the grant checker travels inside the ClientApp to the Ray workers (so it must pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from dari.cohort import load_definition, load_table_one_request
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.query_apps import Progress, QueryHubJob, make_query_hub_app, make_query_site_app
from dari.federation.flower.query_jobs import QueryKind, QueryRequest, QueryRun
from dari.federation.flower.simulation import FederationRunError, simulate, site_bindings, site_ids, with_tickets
from dari.federation.ticket import hub_public_pem


def build_query(
    sites: Sequence[Path],
    kind: QueryKind,
    definition_path: Path,
    *,
    request_path: Path | None = None,
    requester: str,
    rules: DisclosureRules | None = None,
    age_band_years: Literal[5, 10] = 10,
) -> QueryRequest:
    """The query request for these sites (dataset id `<site-id>-cdm`), its files read and checked."""
    if kind == "characterisation" and request_path is None:
        raise InputError("a Table 1 (characterisation) job needs a request file (--request)")
    if kind == "feasibility" and request_path is not None:
        raise InputError("a feasibility job takes no Table 1 request file")
    return QueryRequest(
        kind=kind,
        requester=requester,
        datasets={s: f"{s}-cdm" for s in site_ids(sites)},
        definition=load_definition(definition_path),
        table_one=None if request_path is None else load_table_one_request(request_path),
        age_band_years=age_band_years,
        disclosure=rules or DisclosureRules(),
    )


def run_query(
    sites: Sequence[Path],
    kind: QueryKind,
    definition_path: Path,
    *,
    request_path: Path | None = None,
    grant_checker: GrantChecker,
    requester: str,
    rules: DisclosureRules | None = None,
    age_band_years: Literal[5, 10] = 10,
    progress: Progress | None = None,
    num_cpus: int = 2,
    hub_store: str | Path | None = None,
) -> QueryRun:
    """Run the query at every site through Flower's simulation engine; per-site and pooled protected results.

    With `hub_store` the hub issues the job's tickets and the simulated sites trust its key; without it, only a
    `SyntheticOnlyGrantChecker` (no governance, synthetic folders) admits the job.
    """
    if not sites:
        raise InputError("give at least one site folder (--sites)")
    request = build_query(
        sites,
        kind,
        definition_path,
        request_path=request_path,
        requester=requester,
        rules=rules,
        age_band_years=age_band_years,
    )
    pem = None
    if hub_store is not None:
        request, pem = with_tickets(request, hub_store, request.analysis_type, None), hub_public_pem(hub_store)
    job = QueryHubJob(request=request, engine="simulation", node_wait_s=5.0)
    if progress is not None:
        job.progress = progress
    query_sites = make_query_site_app(site_bindings(sites, rules, pem), grant_checker)
    simulate(make_query_hub_app(job), query_sites, len(sites), num_cpus)
    if not job.result:
        raise FederationRunError("the simulation ended without a result (see the Flower log above)")
    return job.result[0]
