"""Attacker's playbook: run your own Flower app at a hospital (issue 13, leak 1, critical).

The attack: on the documented deployment engine (SuperLink + SuperNode), a user writes an app whose clientapp
opens the site's CDM and returns rows and the node config, and submits it with `flwr run`. Before: a stock
SuperNode installed the FAB and ran its code, with no grant check and no audit entry. Now: the site runs its
SuperNode with `--isolation process` and dari's executor (`dari site clientapp-exec`), which vets every FAB
without installing it, runs only the installed dari apps, and answers anything else with a refusal (reason only)
and an `app.refused` entry in the site's audit file.

Fast tests vet FABs built with Flower's own builder; the slow ones submit the apps to a real loopback federation.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.cli.build import build_fab_from_files
from flwr.supercore.task_identity import TaskIdentity

from dari.errors import InputError
from dari.federation.flower.jobs import ValidationRun
from dari.federation.flower.vetted_apps import (
    ALLOWED_CLIENTAPPS,
    MAX_PYPROJECT_BYTES,
    AppRefusedError,
    VettedExecutor,
    read_hash_list,
    vet_fab,
)
from dari.federation.site_audit import SiteAuditLog, verify_site_audit

sys.path.insert(0, str(Path(__file__).parents[1] / "federation" / "flower"))  # the loopback federation helpers
from flower_deployment import BIN, LoopbackFederation, app_pyproject, missing_binaries
from flower_fixtures import MIN_CELL, build_sites

FOREIGN_SITE = '''
import json
from pathlib import Path

import duckdb
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


@app.query()
def dump(message: Message, context: Context) -> Message:
    """Read the CDM behind the site's back and send it, with the node config, to whoever asked."""
    folder = Path(str(context.node_config["site-folder"]))
    with duckdb.connect(str(folder / "cdm.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT person_id, year_of_birth FROM person ORDER BY person_id LIMIT 5").fetchall()
    leak = {"node_config": dict(context.node_config), "rows": rows}
    return Message(RecordDict({"leak": ConfigRecord({"json": json.dumps(leak, default=str)})}), reply_to=message)
'''

FOREIGN_HUB = '''
import json
import time
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Ask every node for its dump and write whatever comes back to the result file."""
    deadline = time.monotonic() + 120
    while not list(grid.get_node_ids()) and time.monotonic() < deadline:
        time.sleep(0.5)
    asks = [
        Message(RecordDict({"ask": ConfigRecord({"x": 1})}), dst_node_id=node, message_type="query")
        for node in grid.get_node_ids()
    ]
    replies = []
    for reply in grid.send_and_receive(asks, timeout=240):
        if reply.has_error():
            replies.append({"error": reply.error.reason})
        else:
            replies.append({"content": str(reply.content.config_records["leak"]["json"])})
    result = Path(str(context.run_config["result-file"]))
    result.with_suffix(".partial").write_text(json.dumps(replies), encoding="utf-8")
    result.with_suffix(".partial").replace(result)
'''


def pyproject(name: str, serverapp: str, clientapp: str, result_file: str = "/tmp/none.json") -> str:
    """An app's pyproject.toml naming its two components."""
    return f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0.0"
dependencies = []

[tool.flwr.app]
publisher = "mallory"

[tool.flwr.app.components]
serverapp = "{serverapp}"
clientapp = "{clientapp}"

[tool.flwr.app.config]
result-file = {json.dumps(result_file)}
"""


def foreign_files(result_file: str = "/tmp/none.json") -> dict[str, str]:
    """The foreign app: its own clientapp that dumps the CDM and the node config."""
    return {
        "pyproject.toml": pyproject("cohort-explorer", "explorer.hub:app", "explorer.site:app", result_file),
        "explorer/__init__.py": "",
        "explorer/hub.py": FOREIGN_HUB,
        "explorer/site.py": FOREIGN_SITE,
    }


def shadow_files(result_file: str = "/tmp/none.json") -> dict[str, str]:
    """Names dari's site app but ships its own module of the same name (the dump) beside the foreign hub."""
    ref = "dari.federation.flower.site_app:app"
    return {
        "pyproject.toml": pyproject("dari-validation-job", "explorer.hub:app", ref, result_file),
        "dari/__init__.py": "",
        "dari/federation/__init__.py": "",
        "dari/federation/flower/__init__.py": "",
        "dari/federation/flower/site_app.py": FOREIGN_SITE,
        "explorer/__init__.py": "",
        "explorer/hub.py": FOREIGN_HUB,
    }


def fab(files: dict[str, str]) -> tuple[bytes, str]:
    """The FAB `flwr run` would send for these files, and its hash (Flower's own builder)."""
    content, _ = build_fab_from_files({k: v.encode() for k, v in files.items()})
    return content, hashlib.sha256(content).hexdigest()


def only_pyproject(clientapp: str) -> tuple[bytes, str]:
    """A FAB of a pyproject alone whose clientapp is `clientapp`."""
    return fab({"pyproject.toml": pyproject("job", "dari.federation.flower.hub_app:app", clientapp)})


# --- fast: the vetting itself ------------------------------------------------------------------------------


def test_vet_fab_dari_release_apps_accepted() -> None:
    # Prepare / Execute
    vetted = [vet_fab(*only_pyproject(ref)) for ref in ALLOWED_CLIENTAPPS]
    # Assert
    assert [v.component for v in vetted] == list(ALLOWED_CLIENTAPPS)


@pytest.mark.parametrize(
    ("files", "why"),
    [
        (foreign_files(), "carries code or files of its own"),
        (shadow_files(), "carries code or files of its own"),
    ],
    ids=["own-clientapp", "shadows-dari-module"],
)
def test_vet_fab_code_on_the_wire_refused(files: dict[str, str], why: str) -> None:
    """A FAB carrying any module (its own app, or one named like dari's) is refused before anything is read."""
    with pytest.raises(AppRefusedError, match=why):
        vet_fab(*fab(files))


@pytest.mark.parametrize(
    "clientapp",
    [
        "dari.cli.app:app",  # installed, but not a site app
        "os:system",
        "subprocess:run",
        "builtins:exec",
        "shutil:rmtree",
        "dari.federation.flower.site_app:make_site_app",  # a site module, another attribute
        "dari.federation.flower.site_app:app ",  # trailing space: exact names only
        "dari.federation.flower.hub_app:app",
    ],
)
def test_vet_fab_other_components_refused(clientapp: str) -> None:
    """A pyproject-only FAB pointing the clientapp at any other installed object is refused by name."""
    with pytest.raises(AppRefusedError, match="is not one of dari's site apps"):
        vet_fab(*only_pyproject(clientapp))


def test_vet_fab_release_hash_list_enforced() -> None:
    """With a release list, even dari's own component in an unlisted FAB (say, edited config) is refused."""
    released, released_hash = only_pyproject(ALLOWED_CLIENTAPPS[0])
    edited, edited_hash = fab(
        {"pyproject.toml": pyproject("job", "x:y", ALLOWED_CLIENTAPPS[0], result_file="/tmp/other.json")}
    )
    assert vet_fab(released, released_hash, {released_hash}).fab_hash == released_hash
    with pytest.raises(AppRefusedError, match="not one of this site's dari release apps"):
        vet_fab(edited, edited_hash, {released_hash})


def test_vet_fab_hash_mismatch_refused() -> None:
    """A run whose FAB bytes differ from the hash it declares is refused (the hash is recomputed, not trusted)."""
    content, _ = only_pyproject(ALLOWED_CLIENTAPPS[0])
    with pytest.raises(AppRefusedError, match="does not match"):
        vet_fab(content, "0" * 64)


def test_fab_hash_cli_matches_what_flwr_run_sends(tmp_path: Path) -> None:
    """The steward's release list: `dari site fab-hash` is the hash of the FAB Flower builds from the folder."""
    from typer.testing import CliRunner

    from dari.cli.app import app

    text = pyproject("job", "dari.federation.flower.hub_app:app", ALLOWED_CLIENTAPPS[0])
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    done = CliRunner().invoke(app, ["site", "fab-hash", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == fab({"pyproject.toml": text})[1]


def test_read_hash_list_refuses_a_bad_line(tmp_path: Path) -> None:
    """A typo in the release list stops the executor at start (file and line named), never 'allow all'."""
    listed = tmp_path / "release-fabs.txt"
    listed.write_text(f"# dari 0.9\n{'a' * 64}  # validation\n\nnot-a-hash\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 4"):
        read_hash_list(listed)
    listed.write_text(f"{'A' * 64}\n", encoding="utf-8")
    assert read_hash_list(listed) == frozenset({"a" * 64})


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # the duplicate name is the point
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not a zip", "not a readable app bundle"),
        (_zip([(".info/CONTENT", b"")]), "no pyproject.toml"),
        (_zip([("pyproject.toml", b"[x"), ("pyproject.toml", b"[y]")]), "one file name twice"),
        (_zip([("pyproject.toml", b"[tool")]), "not valid TOML"),
        (_zip([("pyproject.toml", b"[tool.flwr.app]\n")]), "declares no clientapp"),
        (_zip([("pyproject.toml", b"#" * (MAX_PYPROJECT_BYTES + 1))]), "over"),
        (_zip([("pyproject.toml", b"x"), ("../evil.pth", b"import os")]), "carries code"),
    ],
    ids=["not-zip", "no-pyproject", "duplicate", "bad-toml", "no-component", "huge", "path-escape"],
)
def test_vet_fab_malformed_bundles_refused(content: bytes, why: str) -> None:
    with pytest.raises(AppRefusedError, match=why):
        vet_fab(content, hashlib.sha256(content).hexdigest())


@pytest.fixture
def task_identity() -> Iterator[None]:
    """The task identity flwr sets in a task's process (messages are stamped with it), restored afterwards."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 7, 1
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


def _ask() -> Message:
    return Message(RecordDict({"ask": ConfigRecord({"x": 1})}), dst_node_id=1, message_type="query")


@pytest.mark.slow
def test_foreign_clientapp_leaks_when_run_control(tmp_path: Path, flower_site: Path, task_identity: None) -> None:
    """Control: the foreign clientapp is a working attack, so the refusals below are what stops it."""
    for name, text in foreign_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        attack = importlib.import_module("explorer.site").app
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("explorer.site", None), sys.modules.pop("explorer", None)
    context = Context(1, 1, {"site-folder": str(flower_site)}, RecordDict(), {})
    leak = json.loads(str(attack(_ask(), context).content.config_records["leak"]["json"]))
    assert len(leak["rows"]) == 5 and leak["node_config"]["site-folder"] == str(flower_site)


def test_executor_refusal_audited_reason_only(tmp_path: Path, task_identity: None) -> None:
    """The executor's answer to a foreign FAB: an error reply (reason only), an audit entry, no app called."""
    executor = VettedExecutor("127.0.0.1:1", tmp_path, insecure=True)
    content, fab_hash = fab(foreign_files())
    context = Context(7, 1, {"site-folder": str(tmp_path), "hub-token-file": "/etc/dari/token"}, RecordDict(), {})
    reply, status, details = executor._answer(_ask(), context, 7, content, fab_hash)
    assert reply.has_error() and "app refused by the site" in reply.error.reason
    assert "token" not in reply.error.reason and str(tmp_path) not in reply.error.reason
    assert status == "failed" and details == reply.error.reason
    (entry,) = SiteAuditLog(tmp_path).entries()
    assert (entry["event"], entry["outcome"]) == ("app.refused", "refused")
    assert entry["details"]["fab_hash"] == fab_hash and entry["details"]["run_id"] == 7
    assert verify_site_audit(SiteAuditLog(tmp_path)) is None


# --- slow: the real deployment engine --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flower_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small synthetic site (site-1, 1,500 patients)."""
    return build_sites(tmp_path_factory.mktemp("attack-net"), n=1)[0].resolve()


RELEASE = "release"  # the release app's folder in the federation's root; its FAB is the site's one listed hash


def release_pyproject() -> str:
    """dari's validation job app as released: fixed placeholders, each job's paths passed with `--run-config`."""
    return app_pyproject(Path("unset"), Path("unset"), Path("unset"))


@pytest.fixture(scope="module")
def vetted_federation(tmp_path_factory: pytest.TempPathFactory, flower_site: Path) -> Iterator[LoopbackFederation]:
    """A SuperLink and one SuperNode in the production setup: process isolation, dari's executor, a release list."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"FLOWER DEPLOYMENT TEST SKIPPED: binaries missing from the venv: {', '.join(missing)}")
    federation = LoopbackFederation(tmp_path_factory.mktemp("attack-deploy"))
    (federation.root / RELEASE).mkdir()
    (federation.root / RELEASE / "pyproject.toml").write_text(release_pyproject(), encoding="utf-8")
    hashes = federation.root / "release-fabs.txt"
    hashes.write_text(f"# dari release apps\n{fab({'pyproject.toml': release_pyproject()})[1]}\n", encoding="utf-8")
    try:
        federation.start_superlink()
        federation.start_supernode(flower_site.name, flower_site, vetted=True, fab_hashes=hashes)
        yield federation
    finally:
        survivors = federation.stop()
        assert not survivors, f"Flower processes survived the teardown: {survivors}"


def _submit(
    federation: LoopbackFederation, name: str, files: dict[str, str] | None = None, run_config: str | None = None
) -> Path:
    app_dir = federation.root / name
    for rel, text in (files or {}).items():
        (app_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / rel).write_text(text, encoding="utf-8")
    federation.flwr_run(app_dir, run_config=run_config)
    return app_dir


def _wait(federation: LoopbackFederation, result: Path, wait_s: float = 300.0) -> str:
    deadline = time.monotonic() + wait_s
    while not result.exists():
        federation.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"no result after {wait_s:.0f} s\n{federation.log_tail()}")
        time.sleep(1.0)
    return result.read_text(encoding="utf-8")


@pytest.mark.slow
def test_foreign_apps_refused_and_audited_on_the_engine(
    vetted_federation: LoopbackFederation, flower_site: Path
) -> None:
    """`flwr run` of the foreign app and of the shadowing app: both get refusals, no row, no node config."""
    root: Path = vetted_federation.root
    # One run at a time: concurrent runs on a loaded 2-core machine send Flower's SuperLink into relaunching
    # ServerApp processes whose task tokens have expired (seen in December 2026), a hub-side stall.
    for name, files in (("foreign", foreign_files), ("shadow", shadow_files)):
        result = root / f"{name}.json"
        _submit(vetted_federation, name, files(str(result)))
        text = _wait(vetted_federation, result)
        replies = json.loads(text)
        assert replies and all("content" not in r for r in replies), f"{name} got data back: {text}"
        assert all("app refused by the site" in r["error"] for r in replies)
        assert str(flower_site) not in text and "year_of_birth" not in text
    refused = [e for e in SiteAuditLog(flower_site).entries() if e["event"] == "app.refused"]
    assert len({e["details"]["run_id"] for e in refused}) == 2
    assert verify_site_audit(SiteAuditLog(flower_site)) is None


@pytest.mark.slow
def test_flowers_own_executor_gets_no_task_from_the_vetted_node(
    vetted_federation: LoopbackFederation, flower_site: Path
) -> None:
    """Insider variant: start Flower's stock executor on the node's Runtime API, to run apps past dari's.

    Without the SuperExec secret its AcquireTask is refused and it exits, so it never starts a `flwr-clientapp`.
    """
    port = vetted_federation.runtime_ports[flower_site.name]
    done = subprocess.run(
        [str(BIN / "flower-superexec"), "--insecure", "--runtime-api-address", f"127.0.0.1:{port}"],
        env=vetted_federation.env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    # it gives up by itself (flwr 1.41 exits 0, "terminated gracefully"): what matters is the node's refusal
    assert "terminated" in done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    supernode_log = (vetted_federation.root / f"supernode-{flower_site.name}.log").read_text(encoding="utf-8")
    assert "SuperExec authentication failed for /flwr.proto.Runtime/AcquireTask" in supernode_log


@pytest.fixture(scope="module")
def validation_job(vetted_federation: LoopbackFederation, flower_site: Path) -> tuple[Path, Path]:
    """A dari validation job for site-1 (job file, model file) in the federation's folder."""
    from dari.disclosure import DisclosureRules
    from dari.federation.flower.simulation import build_job
    from dari.models.reference import reference_model_paths

    ref = reference_model_paths()
    rules = DisclosureRules(min_cell=MIN_CELL)
    job, model = build_job([flower_site], ref.model, ref.spec, requester="researcher", threshold=0.2, rules=rules)
    job_file, model_file = vetted_federation.root / "job.json", vetted_federation.root / "model.onnx"
    job_file.write_text(job.model_dump_json(), encoding="utf-8")
    model_file.write_bytes(model)
    return job_file, model_file


@pytest.mark.slow
def test_pyproject_only_apps_naming_other_code_refused_on_the_engine(
    vetted_federation: LoopbackFederation, flower_site: Path, validation_job: tuple[Path, Path]
) -> None:
    """dari's own job app, its clientapp pointed at another installed object: no code on the wire, still refused."""
    # `os:system` is in the fast tests: `flwr run` itself will not submit it (its static check opens the module's
    # file, and `os` is frozen in Python 3.11), a client-side check an attacker can skip by calling the Control API.
    refs = ("dari.cli.app:app", "subprocess:run")  # shutil:rmtree and the rest: in the fast tests
    apps = {
        ref: app_pyproject(*validation_job, vetted_federation.root / f"variant-{i}.json").replace(
            'clientapp = "dari.federation.flower.site_app:app"', f'clientapp = "{ref}"'
        )
        for i, ref in enumerate(refs)
    }
    # dari's own job app with its paths written into the pyproject: a FAB of its own, not on the release list
    apps["unlisted"] = app_pyproject(*validation_job, vetted_federation.root / "variant-unlisted.json")
    for i, (ref, text) in enumerate(apps.items()):  # one run at a time (see above)
        _submit(vetted_federation, f"variant-{i}", {"pyproject.toml": text})
        result = vetted_federation.root / ("variant-unlisted.json" if ref == "unlisted" else f"variant-{i}.json")
        run = ValidationRun.model_validate_json(_wait(vetted_federation, result))
        assert run.covered == () and run.pooled is None, ref
        assert run.sites[flower_site.name].status == "failed" and run.sites[flower_site.name].statistics is None
    reasons = [e["details"]["reason"] for e in SiteAuditLog(flower_site).entries() if e["event"] == "app.refused"]
    for ref in refs:
        assert any(f"clientapp {ref!r} is not one of dari's site apps" in r for r in reasons), (ref, reasons)
    assert any("not one of this site's dari release apps" in r for r in reasons), reasons


@pytest.mark.slow
def test_dari_validation_still_runs_through_the_vetted_node(
    vetted_federation: LoopbackFederation, flower_site: Path, validation_job: tuple[Path, Path]
) -> None:
    """The same node still answers dari's released validation app (job paths by `--run-config`): installed code."""
    job_file, model_file = validation_job
    result_file = vetted_federation.root / "validation.json"
    paths = f"job-file='{job_file}' model-file='{model_file}' result-file='{result_file}'"
    _submit(vetted_federation, RELEASE, run_config=paths)
    run = ValidationRun.model_validate_json(_wait(vetted_federation, result_file, 420.0))
    assert run.sites[flower_site.name].status == "ok" and run.covered == (flower_site.name,)
    assert run.pooled is not None and run.pooled.n > 0
    accepted = [e for e in SiteAuditLog(flower_site).entries() if e["event"] == "app.accepted"]
    assert [e["details"]["component"] for e in accepted] == ["dari.federation.flower.site_app:app"]
    assert accepted[0]["details"]["fab_hash"] == fab({"pyproject.toml": release_pyproject()})[1]
    assert verify_site_audit(SiteAuditLog(flower_site)) is None
