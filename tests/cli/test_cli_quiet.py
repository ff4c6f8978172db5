"""A quiet `dari`: the root help lists commands without importing them, no store is created by a check, and the
upstream notices a person cannot act on stay off the terminal."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dari.cli.app import COMMANDS, app

runner = CliRunner()


def test_cli_help_lists_every_command_without_importing_any() -> None:
    # Execute: `dari --help` in a fresh interpreter, as the console script runs it
    code = (
        "import sys\nfrom dari.cli.app import main\nsys.argv = ['dari', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(m for m in sys.modules if m.startswith(('dari.', 'flwr', 'duckdb', 'matplotlib'))))"
    )
    shown = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    # Assert: every command listed with its summary, none of their modules (or heavy libraries) loaded
    loaded = shown.split("MODULES", 1)[1].split()
    assert [m for m in loaded if m not in ("dari.cli", "dari.cli.app")] == [], loaded
    for name in COMMANDS:
        assert f" {name} " in shown, name


def test_audit_verify_refuses_a_missing_store_without_creating_it(tmp_path: Path) -> None:
    # Prepare
    missing = tmp_path / "hub.db"
    # Execute: as README lists it, from a folder without a hub, and with --db naming a missing file
    listed = runner.invoke(app, ["audit", "verify", "--db", str(missing)])
    as_json = runner.invoke(app, ["audit", "verify", "--db", str(missing), "--format", "json"])
    # Assert: exit 3 (store not found), a message naming the way out, and no file made
    assert (listed.exit_code, as_json.exit_code) == (3, 3)
    assert "dari hub init" in listed.output
    assert not missing.exists()


def test_audit_verify_json_on_a_fresh_store(tmp_path: Path) -> None:
    import json

    db = str(tmp_path / "hub.db")
    assert runner.invoke(app, ["hub", "init", "--db", db]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problems"] == [] and report["witnessed_heads"] == 0


def test_quiet_third_party_hides_upstream_notices_only(caplog: pytest.LogCaptureFixture) -> None:
    from flwr.common.logger import warn_deprecated_feature

    from dari.cli.quiet import quiet_third_party

    # Prepare
    quiet_third_party()
    flwr = logging.getLogger("flwr")
    flwr.addHandler(caplog.handler)
    try:
        # Execute: Flower's own deprecation notice of run_simulation, and another of its warnings
        warn_deprecated_feature("The `run_simulation` function is deprecated and will be removed")
        flwr.warning("a real problem")
    finally:
        flwr.removeHandler(caplog.handler)
    # Assert: the notice is gone, the real warning is not
    messages = [r.getMessage() for r in caplog.records]
    assert not any("run_simulation" in m for m in messages)
    assert "a real problem" in messages
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_third_party()  # again: idempotent, and after a reset of the filters
        upstream = "fetch_arrow_table() is deprecated, use to_arrow_table() instead."
        warnings.warn(upstream, DeprecationWarning, stacklevel=1)
        warnings.warn("dari's own warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["dari's own warning"]
    assert logging.getLogger("fontTools.subset").getEffectiveLevel() >= logging.ERROR
    # Flower's own `filterwarnings("once", category=DeprecationWarning)`, imported after, does not bring it back
    code = (
        "import warnings\nfrom dari.cli.quiet import quiet_third_party\nquiet_third_party()\n"
        "warnings.filterwarnings('once', category=DeprecationWarning)\n"
        "warnings.warn('fetch_arrow_table() is deprecated, use x', DeprecationWarning)\n"
        "warnings.warn('another deprecation', DeprecationWarning)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr
    assert "another deprecation" in shown and "fetch_arrow_table" not in shown
    # A process the command starts (a spawned CDS worker) inherits the filter
    code = "import warnings; warnings.warn('fetch_arrow_table() is deprecated, use x', DeprecationWarning)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # __main__ shows it
    assert child.stderr == "", child.stderr
    # Ray's own test before its FutureWarning (ray._private.worker.init) now reads "no override": no warning
    from ray._private.accelerators import RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO_ENV_VAR
    from ray._private.ray_constants import env_bool

    assert env_bool(RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO_ENV_VAR, True) is False
