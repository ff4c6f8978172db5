"""`dari cds serve`: refuses unsafe issuer configurations, gates a deployment on the hub, says when ungated."""

from __future__ import annotations

import gc
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from care_helpers import EhrKeys, approved_report
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dari.care import CdsSettings, ServedModel
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


class _Served:
    """Stands in for uvicorn.run: records how the service would have been started."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, app: Any, **kwargs: Any) -> None:
        self.calls.append({"app": app, **kwargs})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Served]:
    """uvicorn.run replaced; the collector unfrozen afterwards (serve freezes it before serving)."""
    import uvicorn

    fake = _Served()
    monkeypatch.setattr(uvicorn, "run", fake)
    yield fake
    gc.unfreeze()


def _serve(tmp_path: Path, ehr_keys: EhrKeys, *extra: str) -> Any:
    config = tmp_path / "issuers.json"
    config.write_text(json.dumps({"issuers": [{"iss": "https://ehr", "jwks_file": str(ehr_keys.jwks_file)}]}))
    args = ["serve", "--jwks-config", str(config), "--db", str(tmp_path / "c.db"), *extra]
    return CliRunner().invoke(app, args)


def test_care_cli_serve_gated_deployment_starts_when_approved(
    tmp_path: Path,
    ehr_keys: EhrKeys,
    served: _Served,
    hub_store: tuple[str, sessionmaker[Session]],
    deployment_folder: Path,
    reference_model: ServedModel,
) -> None:
    # Prepare
    path, factory = hub_store
    report = approved_report(factory, reference_model.card.model_sha256)
    # Execute
    result = _serve(tmp_path, ehr_keys, "--deployment", str(deployment_folder), "--hub-db", path)
    # Assert: the gate asked the hub before serving, and the app carries it
    assert result.exit_code == 0, result.output
    assert f"approved under {report} by approver1" in result.output and "NOT GATED" not in result.output
    (call,) = served.calls
    assert call["app"].state.gate.site_id == "site-1" and call["access_log"] is False


def test_care_cli_serve_refuses_deployment_the_hub_does_not_approve(
    tmp_path: Path,
    ehr_keys: EhrKeys,
    served: _Served,
    hub_store: tuple[str, sessionmaker[Session]],
    deployment_folder: Path,
    reference_model: ServedModel,
) -> None:
    path, factory = hub_store
    approved_report(factory, reference_model.card.model_sha256, approve=False)
    result = _serve(tmp_path, ehr_keys, "--deployment", str(deployment_folder), "--hub-db", path)
    assert result.exit_code == 5 and "refuses" in result.output and not served.calls


def test_care_cli_serve_ungated_says_so(tmp_path: Path, ehr_keys: EhrKeys, served: _Served) -> None:
    result = _serve(tmp_path, ehr_keys)
    assert result.exit_code == 0, result.output
    assert "NOT GATED" in result.output and served.calls[0]["app"].state.gate is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--hub-db", "hub.db"), "gate a --deployment"),
        (("--model", "reference", "--deployment", "{folder}", "--hub-db", "x"), "not both"),
        (("--deployment", "{folder}"), "exactly one of --hub-db or --hub-url"),
        (("--deployment", "{folder}", "--hub-url", "https://hub.test"), "--hub-token-file"),
        (("--deployment", "{folder}", "--hub-db", "{tmp}/none.db"), "no hub store"),
    ],
)
def test_care_cli_serve_gate_options_checked(
    tmp_path: Path, ehr_keys: EhrKeys, served: _Served, deployment_folder: Path, extra: tuple[str, ...], message: str
) -> None:
    args = [a.format(folder=deployment_folder, tmp=tmp_path) for a in extra]
    result = _serve(tmp_path, ehr_keys, *args)
    assert result.exit_code == 2 and message in result.output and not served.calls


def test_care_cli_serve_deployment_hash_must_match_model(
    tmp_path: Path, ehr_keys: EhrKeys, served: _Served, deployment_folder: Path, hub_store: tuple[str, Any]
) -> None:
    manifest = deployment_folder / "deployment.json"
    manifest.write_text(json.dumps({"model_sha256": "0" * 64, "site": "site-1"}))
    result = _serve(tmp_path, ehr_keys, "--deployment", str(deployment_folder), "--hub-db", hub_store[0])
    assert result.exit_code == 2 and "model_sha256" in result.output


def test_care_cli_serve_workers_get_one_configuration(
    tmp_path: Path, ehr_keys: EhrKeys, served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the worker manager replaced; it receives what every worker builds its app from
    import dari.care.serving as serving

    calls: list[tuple[serving.ServeConfig, str, int, int]] = []
    monkeypatch.setattr(serving, "serve_workers", lambda *args: calls.append(args))
    # Execute
    result = _serve(tmp_path, ehr_keys, "--workers", "2", "--allow-as-of", "--port", "8811")
    # Assert: one configuration for all workers; a worker's app built from it serves
    assert result.exit_code == 0, result.output
    ((config, host, port, workers),) = calls
    assert (host, port, workers) == ("127.0.0.1", 8811, 2) and not served.calls
    assert config.settings.allow_as_of and config.deployment is None
    sent = serving.ServeConfig.model_validate_json(config.model_dump_json())  # what a spawned worker receives
    worker_app = serving.serving_app(sent, serving.load_service(sent))
    with TestClient(worker_app) as client:
        assert client.get("/cds-services").status_code == 200


def test_care_workers_share_the_port_and_the_database(tmp_path: Path, settings: CdsSettings) -> None:
    # Prepare
    import sqlite3

    from dari.care.serving import listening_socket, prepare_database

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Execute: two workers' sockets on one port; the database made once before they start
    first, second = listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port)
    prepare_database(settings)
    # Assert
    assert first.getsockname() == second.getsockname()
    tables = {r[0] for r in sqlite3.connect(settings.database).execute("SELECT name FROM sqlite_master")}
    assert {"cds_card_issued", "cds_inference", "cds_jti"} <= tables
    first.close()
    second.close()


def test_care_workers_failing_at_start_are_given_up(settings: CdsSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a model folder that is not there, so that every worker dies while starting
    import dari.care.serving as serving
    from dari.errors import DariError

    monkeypatch.setattr(serving, "MAX_EARLY_ENDS", 1)
    config = serving.ServeConfig(settings=settings, model=str(settings.database.parent / "no-model"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Execute / Assert: the manager stops instead of restarting it for ever
    with pytest.raises(DariError, match="keep ending at start-up"):
        serving.serve_workers(config, "127.0.0.1", port, 1)


def test_care_cli_serve_cdm_resolves_concept_sets_in_every_worker(
    tmp_path: Path, ehr_keys: EhrKeys, served: _Served, care_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the worker manager replaced, as above
    import dari.care.serving as serving

    calls: list[tuple[serving.ServeConfig, str, int, int]] = []
    monkeypatch.setattr(serving, "serve_workers", lambda *args: calls.append(args))
    # Execute
    result = _serve(tmp_path, ehr_keys, "--workers", "2", "--cdm", str(care_site))
    # Assert: the site's codes reach each worker's mapper (type 2 diabetes under diabetes mellitus)
    assert result.exit_code == 0, result.output
    assert "site vocabulary: diabetes" in result.output
    ((config, _, _, _),) = calls
    sent = serving.ServeConfig.model_validate_json(config.model_dump_json())
    model = serving.load_service(sent).model
    assert config.cdm == str(care_site)
    assert "44054006" in model.site_snomed["diabetes"] and "84114007" in model.site_snomed["heart_failure"]


def test_care_serve_deployment_naming_its_site_cdm_resolves_concept_sets(
    settings: CdsSettings, deployment_folder: Path, care_site: Path, hub_store: tuple[str, Any]
) -> None:
    # Prepare: the deployment names its site CDM ("cdm" in deployment.json, relative to the folder)
    import os

    import dari.care.serving as serving
    from dari.care.deployment_gate import close_gate

    manifest_path = deployment_folder / "deployment.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["cdm"] = os.path.relpath(care_site, deployment_folder)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    config = serving.ServeConfig(settings=settings, deployment=deployment_folder, hub_db=hub_store[0])
    # Execute
    service = serving.load_service(config)
    # Assert
    assert service.gate is not None
    close_gate(service.gate)
    assert "44054006" in service.model.site_snomed["diabetes"]
