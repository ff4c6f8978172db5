"""`dari site clientapp-exec` and `dari site fab-hash`: the site's executor of vetted dari apps, and release hashes.

The executor serves a `flower-supernode --isolation process`: see dari.federation.flower.vetted_apps and the
production commands in docs/federation.md. Flower is imported only when a command runs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import err, guarded


def clientapp_exec(
    site_folder: Annotated[
        Path, typer.Option(help="The site folder (its audit file records every app run or refused).", file_okay=False)
    ],
    runtime_api_address: Annotated[
        str, typer.Option(help="The SuperNode's Runtime API (its --host:--port).")
    ] = "127.0.0.1:9094",
    insecure: Annotated[bool, typer.Option(help="Plain HTTP to the Runtime API (loopback only).")] = False,
    root_certificates: Annotated[
        Path | None, typer.Option(help="CA certificate (PEM) of the Runtime API's TLS.", dir_okay=False, exists=True)
    ] = None,
    superexec_auth_secret_file: Annotated[
        Path | None,
        typer.Option(
            help="The secret given to the SuperNode's --superexec-auth-secret-file: only this executor takes tasks.",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    fab_hashes: Annotated[
        Path | None,
        typer.Option(help="File of the dari release FAB hashes (SHA-256, one a line) this site accepts.", exists=True),
    ] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between polls when no task waits.", min=0.05)] = 1.0,
) -> None:
    """Run the SuperNode's ClientApp tasks: dari's installed site apps only; any other app is refused and audited."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    with guarded():
        from dari.federation.flower.vetted_apps import VettedExecutor, read_hash_list

        executor = VettedExecutor(
            runtime_api_address=runtime_api_address,
            site_folder=site_folder,
            insecure=insecure,
            root_certificates=root_certificates.read_bytes() if root_certificates else None,
            auth_secret=superexec_auth_secret_file.read_bytes() if superexec_auth_secret_file else None,
            allowed_hashes=read_hash_list(fab_hashes) if fab_hashes else None,
        )
        err.print(
            f"[green]vetted executor[/] for {site_folder} on {runtime_api_address}: "
            f"apps {', '.join(executor.apps)}; release hashes: {'any' if fab_hashes is None else fab_hashes}"
        )
        executor.serve(poll_interval_s=poll_interval)


def fab_hash(
    app_dir: Annotated[Path, typer.Argument(help="A job app directory (its pyproject.toml).", file_okay=False)],
) -> None:
    """Print the SHA-256 of the FAB `flwr run APP_DIR` would send (for the site's --fab-hashes list)."""
    with guarded():
        import hashlib

        from flwr.cli.build import build_fab_from_disk

        typer.echo(hashlib.sha256(build_fab_from_disk(app_dir)).hexdigest())
