"""`dari privacy …`: site keys and de-identification tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import err, guarded
from dari.cli.privacy_dicom import deid_dicom
from dari.cli.privacy_linkage import link_tokens
from dari.cli.privacy_text import deid_text

app = typer.Typer(help="Pseudonymisation keys and de-identification (tables, text, DICOM).", no_args_is_help=True)
app.command("deid-dicom")(deid_dicom)
app.command("link-tokens")(link_tokens)
app.command("deid-text")(deid_text)


@app.command("keygen")
def keygen(
    key_file: Annotated[Path, typer.Argument(help="Where to write the new key (kept outside the data, mode 600).")],
) -> None:
    """Create a new random site key for keyed pseudonyms; never overwrites an existing key."""
    with guarded():
        from dari.privacy.ingest import key_fingerprint  # pseudonymisation's imports: not for `--help`
        from dari.privacy.keys import create_key_file, load_key

        create_key_file(key_file)
        err.print(f"new key written to {key_file} (fingerprint {key_fingerprint(load_key(key_file))})")
