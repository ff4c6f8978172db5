"""`dari feasibility` and `dari table-one`: federated cohort queries through the Flower simulation engine.

Each site folder becomes one virtual Flower SuperNode; every site passes the site guard (the hub's signed ticket,
issued here from `--hub-db`, and the grant for analysis type `feasibility` or `characterisation`) before it opens
its CDM, and releases only disclosure-controlled figures
(a suppressed count reads "<10"). The hub's pooled figures say which sites they cover.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dari.cli.console import err, guarded, out, step_printer
from dari.cli.validate import NO_REST_TICKETS
from dari.cohort.pooling import PooledCount
from dari.cohort.summary import NumericSummary
from dari.cohort.table_one_pool import PooledNumeric
from dari.disclosure import ProtectedCount
from dari.errors import InputError
from dari.federation.consortium.engine import on_engine
from dari.federation.consortium.jobs import query_on
from dari.federation.flower.grants import (
    GrantChecker,
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
    is_synthetic_site,
)
from dari.federation.flower.query_jobs import QueryKind, QueryRun, QuerySiteReport
from dari.federation.flower.query_simulation import run_query
from dari.federation.flower.simulation import site_ids

SitesOpt = Annotated[list[Path], typer.Option("--sites", help="Site folders (one per hospital).")]
DefinitionOpt = Annotated[Path, typer.Option("--definition", help="Cohort definition (JSON).")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the full result (JSON) here.")]
RequesterOpt = Annotated[str, typer.Option(help="Username the grant is checked for.")]
HubDbOpt = Annotated[Path | None, typer.Option(help="Hub store (SQLite file) to check grants in.")]
HubUrlOpt = Annotated[str | None, typer.Option(help="Hub URL to check grants with.")]
HubTokenOpt = Annotated[str | None, typer.Option(help="API token for --hub-url.", envvar="DARI_HUB_TOKEN")]
NoGovOpt = Annotated[bool, typer.Option(help="No hub: synthetic site folders only.")]


def grant_checker(
    sites: list[Path], hub_db: Path | None, hub_url: str | None, hub_token: str | None, no_governance: bool
) -> GrantChecker:
    """The checker the governance options name; without a hub, synthetic site folders only."""
    if sum(x is not None for x in (hub_db, hub_url)) + int(no_governance) > 1:
        raise InputError("give only one of --hub-db, --hub-url (with --hub-token) or --no-governance")
    if hub_url is not None:
        if not hub_token:
            raise InputError("--hub-url needs --hub-token")
        HubApiGrantChecker(hub_url, hub_token)  # refuses plain http to a non-loopback host first
        raise InputError(NO_REST_TICKETS)
    if hub_db is not None:
        return HubStoreGrantChecker.from_url(hub_db)
    real = [str(s) for s in sites if not is_synthetic_site(s)]
    if real:
        raise InputError(
            "a query without a hub grant (--no-governance, or no hub option) is allowed only on synthetic site "
            f"folders (no truth/ marker): {', '.join(real)}"
        )
    return SyntheticOnlyGrantChecker({f"{s}-cdm": f for s, f in zip(site_ids(sites), sites, strict=True)})


def result_json(run: QueryRun) -> dict[str, Any]:
    """The result file: who answered how, the pooled figures and the sites they cover, then every site's result."""
    pooled = run.pooled
    return {
        "job_id": run.job_id,
        "kind": run.kind,
        "definition": {"name": run.definition_name, "digest": run.definition_digest},
        "engine": run.engine,
        "sites": {s: {"status": r.status, "reason": r.reason, "grant_id": r.grant_id} for s, r in run.sites.items()},
        "covered": list(run.covered),
        "refused": list(run.refused),
        "failed": list(run.failed),
        "pooled": None if pooled is None else {"sites": list(run.covered), **json.loads(pooled.model_dump_json())},
        "pooling_error": run.pooling_error or None,
        "detail": json.loads(run.model_dump_json()),
    }


def _site_cell(report: QuerySiteReport, value: ProtectedCount | str | None) -> str:
    if report.status != "ok":
        return f"[yellow]{report.status}[/]"
    if isinstance(value, ProtectedCount):
        return value.shown
    return value or "–"


def _site_numeric(summary: NumericSummary) -> str:
    if not summary.released or summary.mean is None:
        return summary.n.shown  # fewer than min_cell persons: no statistic released
    return f"{summary.mean:.1f}" + ("" if summary.sd is None else f" ({summary.sd:.1f})")


def _numeric(p: PooledNumeric) -> str:
    if p.mean is None:
        return p.n.shown
    sd = "" if p.sd is None else f" ({p.sd:.1f})"
    return f"{p.mean:.1f}{sd}"


def render(run: QueryRun) -> Table:
    """A Rich table: pooled figures (over the covered sites) beside each site's released figures."""
    covered = ", ".join(run.covered) or "no site"
    table = Table(title=f"{run.kind}: {run.definition_name} — pooled over {covered}")
    table.add_column("")
    table.add_column("pooled", justify="right", style="bold")
    for site in run.sites:
        table.add_column(site, justify="right")
    reports = list(run.sites.values())

    def row(label: str, pooled: PooledCount | str | None, pick: Any) -> None:
        shown = pooled.shown if isinstance(pooled, PooledCount) else (pooled or "–")
        table.add_row(label, shown, *(_site_cell(r, pick(r) if r.status == "ok" else None) for r in reports))

    if run.kind == "feasibility":
        pf = run.pooled_feasibility
        row("index persons", pf.index_persons if pf else None, lambda r: r.feasibility.index_persons)
        for k, step in enumerate(pf.attrition if pf else []):
            row(f"  after {step.name}", step.remaining, lambda r, k=k: r.feasibility.attrition[k].remaining)
        row("cohort persons", pf.cohort_persons if pf else None, lambda r: r.feasibility.cohort_persons)
        for group, heading in (("by_sex", "sex"), ("by_age_band", "age band (years)")):
            table.add_row(heading, *[""] * (len(reports) + 1), style="dim")
            for k, (label, count) in enumerate((getattr(pf, group) if pf else {}).items()):
                row(f"  {label}", count, lambda r, g=group, k=k: getattr(r.feasibility, g)[k].persons)
        return table
    pt = run.pooled_table_one
    row("persons", pt.n if pt else None, lambda r: r.table_one.n)
    row("age, mean (SD)", _numeric(pt.age) if pt else None, lambda r: _site_numeric(r.table_one.age))
    table.add_row("sex", *[""] * (len(reports) + 1), style="dim")
    for k, (name, count) in enumerate((pt.sex if pt else {}).items()):
        row(f"  {name}", count, lambda r, k=k: r.table_one.sex[k].persons)
    table.add_row("comorbidities", *[""] * (len(reports) + 1), style="dim")
    for k, (name, count) in enumerate((pt.comorbidities if pt else {}).items()):
        row(f"  {name}", count, lambda r, k=k: r.table_one.comorbidities[k].persons)
    for k, (name, lab) in enumerate((pt.labs if pt else {}).items()):
        row(f"{name}, persons", lab.n, lambda r, k=k: r.table_one.labs[k].summary.n)
        row(f"{name}, mean (SD)", _numeric(lab), lambda r, k=k: _site_numeric(r.table_one.labs[k].summary))
    return table


def _run(
    kind: QueryKind,
    definition: Path,
    request: Path | None,
    sites: list[Path],
    json_out: Path | None,
    requester: str,
    checker: GrantChecker,
    hub_db: Path | None,
) -> None:
    started = time.monotonic()
    run, engine = on_engine(
        sites,
        hub_db,
        lambda: run_query(
            sites,
            kind,
            definition,
            request_path=request,
            grant_checker=checker,
            requester=requester,
            progress=step_printer(kind),
            hub_store=hub_db,  # the coordinator issues the hub's signed tickets (audited as job.ticket)
        ),
        lambda state: query_on(
            state, sites, kind, definition, request_path=request, requester=requester, hub_store=hub_db
        ),
    )
    err.print(
        f"[dim]{kind}[/] federated ({engine}): {time.monotonic() - started:.1f} s; covered "
        f"{', '.join(run.covered) or 'no site'}; refused {', '.join(run.refused) or 'none'}; "
        f"failed {', '.join(run.failed) or 'none'}"
    )
    if run.pooling_error:
        err.print(f"[red]{kind}[/] the sites' results could not be pooled: {run.pooling_error}")
    out.print(render(run))
    for site, report in run.sites.items():
        if report.status != "ok":
            out.print(f"[yellow]{site} {report.status}:[/] {report.reason}")
    if json_out:
        text = json.dumps(result_json(run), indent=2, ensure_ascii=False)
        json_out.write_text(text + "\n", encoding="utf-8")
    if run.pooled is None:
        raise typer.Exit(3)


def feasibility(
    definition: DefinitionOpt,
    sites: SitesOpt,
    json_out: JsonOpt = None,
    requester: RequesterOpt = "researcher",
    hub_db: HubDbOpt = None,
    hub_url: HubUrlOpt = None,
    hub_token: HubTokenOpt = None,
    no_governance: NoGovOpt = False,
) -> None:
    """Count a cohort at every site (attrition, sex, age bands) with the federated engine; protected counts only."""
    with guarded():
        checker = grant_checker(sites, hub_db, hub_url, hub_token, no_governance)
        _run("feasibility", definition, None, sites, json_out, requester, checker, hub_db)


def characterise_cohort(
    definition: DefinitionOpt,
    request: Annotated[Path, typer.Option("--request", help="Table 1 request (JSON).")],
    sites: SitesOpt,
    json_out: JsonOpt = None,
    requester: RequesterOpt = "researcher",
    hub_db: HubDbOpt = None,
    hub_url: HubUrlOpt = None,
    hub_token: HubTokenOpt = None,
    no_governance: NoGovOpt = False,
) -> None:
    """Table 1 of a cohort at every site and pooled, with the federated engine; protected figures only."""
    with guarded():
        checker = grant_checker(sites, hub_db, hub_url, hub_token, no_governance)
        _run("characterisation", definition, request, sites, json_out, requester, checker, hub_db)
