"""`dari hub …` and `dari audit …`: set up and run the hub, add sites and users, publish, verify the audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dari.cli import deploy, hub_budget, hub_notify
from dari.cli.console import OutputFormat, err, guarded, out
from dari.cli.hub_auth import ByOption, TokenFileOption, existing_engine, governed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="The hub: catalog, governance, audit and web portal.", no_args_is_help=True)
user_app = typer.Typer(help="Hub users.", no_args_is_help=True)
site_app = typer.Typer(help="Sites (hospitals) of the consortium.", no_args_is_help=True)
audit_app = typer.Typer(help="The hub's tamper-evident audit log.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(site_app, name="site")
app.add_typer(deploy.model_app, name="model")
app.add_typer(deploy.report_app, name="report")
app.add_typer(deploy.deployment_app, name="deployment")
app.command("notify-expiring")(hub_notify.notify_expiring)
app.command("grant-budget")(hub_budget.grant_budget)

DbOption = Annotated[
    str, typer.Option("--db", envvar="DARI_HUB_DB", help="Hub store: SQLite file or postgresql:// URL.")
]


@app.command("init")
def init(db: DbOption = "hub.db") -> None:
    """Create or upgrade the hub store's schema (Alembic migrations; safe to repeat)."""
    from dari.hub.db.engine import make_engine, migrate
    from dari.hub.keys import ensure_hub_key

    with guarded():
        engine = make_engine(db)
        migrate(engine)
        engine.dispose()
        keys = ensure_hub_key(db)
    err.print(f"hub store ready: {db}")
    err.print(f"hub signing key: {keys.private} (give sites {keys.public})")


@app.command("serve")
def serve(
    db: DbOption = "hub.db",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8700,
    insecure_cookies: Annotated[
        bool, typer.Option(help="Send cookies over plain HTTP (loopback development only).")
    ] = False,
    site_folder: Annotated[
        list[Path] | None,
        typer.Option(
            "--site-folder",
            help="A site folder on this machine for the portal's feasibility counts (site id = folder name); "
            "repeat per site. Each site's job still passes its site guard.",
        ),
    ] = None,
) -> None:
    """Serve the portal and REST API with uvicorn (put TLS in front of it for anything but loopback)."""
    import uvicorn

    from dari.hub.settings import HubSettings
    from dari.hub.web.app import create_app

    if insecure_cookies and host not in ("127.0.0.1", "localhost", "::1"):
        raise typer.BadParameter("plain-HTTP cookies are allowed on loopback only", param_hint="--insecure-cookies")
    with guarded():
        smtp = hub_notify.smtp_from_env()  # e-mail notifications: DARI_SMTP_* (the password never a flag)
        folders = {f.name: f.resolve() for f in site_folder or []}
        for f in site_folder or []:
            if not f.is_dir():
                raise typer.BadParameter(f"not a site folder: {f}", param_hint="--site-folder")
        settings = HubSettings(database=db, secure_cookies=not insecure_cookies, smtp=smtp, site_folders=folders)
        application = create_app(settings)
    import threading

    from dari.hub.web.search_service import concept_index

    threading.Thread(target=concept_index, daemon=True).start()  # load the analysers before the first search
    err.print(f"dari hub on http://{host}:{port}/ (API docs at /api/docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@site_app.command("add")
def site_add(
    site_id: Annotated[str, typer.Argument(help="Site id, e.g. site-1.")],
    name_ko: Annotated[str, typer.Option("--name-ko", help="Korean name.")],
    name_en: Annotated[str, typer.Option("--name-en", help="English name.")],
    quorum: Annotated[int, typer.Option(min=1, help="DRB votes needed to approve.")] = 1,
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Register a hospital (the store's owner, or a platform admin's token)."""
    from dari.hub.catalog import add_site
    from dari.hub.governance.cli_actor import require_admin

    with guarded(), governed(db, by, token_file, f"hub site add {site_id}") as (session, actor):
        require_admin(actor)
        add_site(session, site_id, name_ko, name_en, drb_quorum=quorum, actor=actor.name)
    err.print(f"site {site_id} added (DRB quorum {quorum})")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="platform_admin, data_steward, drb_member, researcher, ai_vendor, clinician")
    ],
    site: Annotated[str | None, typer.Option(help="Site of a data steward or DRB member.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    token: Annotated[bool, typer.Option(help="Also issue an API token (printed once).")] = False,
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Add a user (the store's owner, or a platform admin's token); the password is asked for or read from
    DARI_HUB_PASSWORD, never given as an argument."""
    import os

    from dari.hub.governance.cli_actor import require_admin
    from dari.hub.governance.users import add_user, issue_api_token

    password = os.environ.get("DARI_HUB_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    with guarded(), governed(db, by, token_file, f"hub user add {username}") as (session, actor):
        require_admin(actor)
        user = add_user(
            session,
            username=username,
            password=password,
            role=role,
            display_name=name,
            site_id=site,
            actor=actor.name,
        )
        issued = issue_api_token(session, user) if token else None
    err.print(f"user {username} added ({role}{', ' + site if site else ''})")
    if issued:
        out.print(issued)


@app.command("publish")
def publish(
    site_folder: Annotated[Path, typer.Argument(help="Site folder, .duckdb file or postgresql:// URL of the CDM.")],
    site: Annotated[str, typer.Option(help="Site id in the hub.")],
    steward: Annotated[
        str | None,
        typer.Option("--by", "--steward", help="The publishing data steward (proven by token or the store's key)."),
    ] = None,
    token_file: TokenFileOption = None,
    identifier: Annotated[str | None, typer.Option("--id", help="Dataset id (default: <site>-cdm).")] = None,
    db: DbOption = "hub.db",
) -> None:
    """Characterise the site's CDM at the site and publish its record in the catalog (counts protected)."""
    from dari.hub.catalog import publish_dataset
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.publication import prepare_publication

    command = f"hub publish {site}"
    with guarded():
        publication = prepare_publication(site_folder, identifier or f"{site}-cdm")
        with governed(db, steward, token_file, command) as (session, actor):
            publish_dataset(
                session,
                require_user(actor, command),
                site,
                publication.record,
                publication.characterisation,
                publication.quality_score,
            )
    err.print(f"published {publication.record.identifier} ({publication.record.number_of_unique_individuals} persons)")


@audit_app.command("verify")
def audit_verify(
    db: DbOption = "hub.db",
    witness: Annotated[
        list[Path] | None,
        typer.Option(
            "--witness",
            help="Checkpoints a site kept (SITE/audit, a *.checkpoints.jsonl or *.checkpoint.json); repeatable.",
        ),
    ] = None,
    hub_public_key: Annotated[
        Path | None, typer.Option(help="The hub's public key (default: the one beside the store).")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Recompute the audit log's hash chain (through every witnessed head); exit 6 and say where when tampered with."""
    from dari.hub.audit import verify
    from dari.hub.audit_checkpoint import witnessed_heads
    from dari.hub.keys import hub_key_paths
    from dari.signing import load_public_key

    with guarded():
        heads: dict[int, str] = {}
        if witness:
            key = load_public_key(hub_public_key) if hub_public_key else hub_key_paths(db).public_key()
            heads = witnessed_heads(witness, key)
        with _session(db) as session:
            result = verify(session, heads)
    if output == "json":
        print(json.dumps({**result.model_dump(mode="json"), "witnessed_heads": len(heads)}, ensure_ascii=False))
        if not result.ok:
            raise typer.Exit(6)
        return
    if result.ok:
        seen = f", through {len(heads)} witnessed heads (up to entry {max(heads)})" if heads else ""
        out.print(f"audit log intact: {result.entries} entries, hash chain verified{seen}")
        if heads:
            err.print("entries after the last witnessed one are checked by the hash chain only")
        return
    for problem in result.problems:
        out.print(f"entry {problem.seq}: {problem.kind}: {problem.message}")
    err.print(f"[bold red]audit log tampered with[/]: {len(result.problems)} problem(s) in {result.entries} entries")
    raise typer.Exit(6)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the signed checkpoint (JSON).")],
    db: DbOption = "hub.db",
) -> None:
    """Sign the audit chain's current head with the hub's key and write it: give it to a witness outside the hub."""
    from dari.atomic import atomic_path
    from dari.hub.audit_checkpoint import latest_checkpoint
    from dari.hub.keys import hub_key_paths

    with guarded(), _session(db) as session:
        envelope = latest_checkpoint(session, hub_key_paths(db))
        with atomic_path(out_file) as tmp:
            tmp.write_text(envelope.model_dump_json(indent=1) + "\n", encoding="utf-8")
    seq = envelope.claims()["seq"]
    err.print(f"checkpoint of audit entry {seq} signed → {out_file}")


def _session(db: str) -> Session:
    """A session on a migrated hub store; a missing SQLite file is refused, never created (`dari hub init` does)."""
    from dari.hub.db.engine import require_schema, session_factory

    engine = existing_engine(db)
    require_schema(engine)
    return session_factory(engine)()
