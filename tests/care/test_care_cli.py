"""`dari cds`: refuses an unsafe issuer configuration before serving anything."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dari.cli.cds import app


def test_care_cli_serve_refuses_plain_http_jwks(tmp_path: Path) -> None:
    # Prepare
    config = tmp_path / "issuers.json"
    config.write_text(json.dumps({"issuers": [{"iss": "https://ehr", "jwks_url": "http://ehr/jwks"}]}))
    # Execute
    result = CliRunner().invoke(app, ["serve", "--jwks-config", str(config), "--db", str(tmp_path / "c.db")])
    # Assert
    assert result.exit_code == 2
    assert "https://" in result.output


def test_care_cli_serve_refuses_empty_issuers(tmp_path: Path) -> None:
    config = tmp_path / "issuers.json"
    config.write_text(json.dumps({"issuers": []}))
    result = CliRunner().invoke(app, ["serve", "--jwks-config", str(config)])
    assert result.exit_code == 2 and "issuers" in result.output
