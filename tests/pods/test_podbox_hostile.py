"""Hostile pod code, run for real in bubblewrap at a synthetic site: each attempt is stopped or held, and audited."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from podbox_helpers import audit_of, run_at_site, write_bundle

from dari.pods.models import PodLimits, PodRun
from dari.pods.runner import RUNS
from dari.pods.sandbox import pids_of_uid

FAST = PodLimits(wall_s=3, cpu_s=10, memory_mb=512, processes=32, file_size_mb=8, output_mb=16, work_mb=32)
KEY_BYTES = b"SITE-PSEUDONYMISATION-KEY-0123456789abcdef"


def _run(site: Path, tmp_path: Path, name: str, code: str, limits: PodLimits = FAST) -> PodRun:
    outcome = run_at_site(site, write_bundle(tmp_path / name, code), limits=limits)
    assert outcome.status == "ok", outcome.reason  # the guard ran the job; how the pod ended is in the record
    assert outcome.result is not None
    return outcome.result


def _outputs(site: Path, run: PodRun) -> Path:
    return site / RUNS / run.run_id / "outputs"


def _site_files(site: Path) -> dict[Path, int]:
    """Every file of the site but its pod runs and its audit (which the guard and the runner append to)."""
    return {
        p: p.stat().st_mtime_ns
        for p in site.rglob("*")
        if p.is_file() and p.relative_to(site).parts[0] not in ("pods", "audit")
    }


def _uid(run: PodRun) -> int:
    found = re.search(r"as uid (\d+)", run.sandbox)
    assert found, run.sandbox
    return int(found.group(1))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on the host's 127.0.0.1 that records every connection it accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_pod_network_reaches_neither_host_loopback_nor_dns(
    pod_site: Path, tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    # Prepare
    port, accepted = listener
    code = f"""
    import json, socket
    seen = {{}}
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1); seen["tcp"] = "connected"
    except OSError as exc:
        seen["tcp"] = type(exc).__name__
    try:
        socket.getaddrinfo("example.com", 443); seen["dns"] = "resolved"
    except OSError as exc:
        seen["dns"] = type(exc).__name__
    json.dump(seen, open("/pod/outputs/net.json", "w"))
    """
    # Execute
    run = _run(pod_site, tmp_path, "net", code)
    # Assert
    seen = json.loads((_outputs(pod_site, run) / "net.json").read_text())
    assert accepted == [] and seen["tcp"] != "connected" and seen["dns"] != "resolved"
    assert [e["event"] for e in audit_of(pod_site, run.run_id)] == ["pod.run.start", "pod.run.ok"]


def test_pod_cannot_write_outside_work_or_read_the_site_key(pod_site: Path, tmp_path: Path) -> None:
    # Prepare: a key where a site keeps it (SITE/keys/) and where the demo keeps it (beside the site folders)
    keys = [pod_site / "keys" / "site-1.key", pod_site.parent / "keys" / "site-1.key"]
    for key in keys:
        key.parent.mkdir(exist_ok=True)
        key.write_bytes(KEY_BYTES)
    targets = ["/pod/data/x", "/pod/code/x", "/etc/x", "/usr/x", f"{pod_site}/x", "/x", "/proc/x"]
    code = f"""
    import json, os
    result = {{"wrote": [], "read": [], "found": []}}
    for path in {targets!r}:
        try:
            open(path, "w").write("owned"); result["wrote"].append(path)
        except OSError:
            pass
    for path in {[str(k) for k in keys]!r}:
        try:
            result["read"].append(open(path, "rb").read().decode())
        except OSError:
            pass
    for root, dirs, files in os.walk("/", onerror=lambda e: None):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/usr", "/sys") and d != "site-packages"]
        result["found"] += [os.path.join(root, f) for f in files if f.endswith((".key", ".jsonl", ".duckdb"))]
    open("/pod/work/scratch.txt", "w").write("fine")
    json.dump(result, open("/pod/outputs/probe.json", "w"))
    """
    before = _site_files(pod_site)
    # Execute
    run = _run(pod_site, tmp_path, "escape", code)
    # Assert
    probe = json.loads((_outputs(pod_site, run) / "probe.json").read_text())
    assert probe == {"wrote": [], "read": [], "found": []}
    assert _site_files(pod_site) == before  # nothing new or changed outside the runs and the guard's audit
    assert KEY_BYTES not in (_outputs(pod_site, run) / "probe.json").read_bytes()
    assert [e["event"] for e in audit_of(pod_site, run.run_id)] == ["pod.run.start", "pod.run.ok"]


def test_pod_fork_bomb_is_stopped_and_leaves_no_process(pod_site: Path, tmp_path: Path) -> None:
    # Prepare
    code = """
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    # Execute
    run = _run(pod_site, tmp_path, "forkbomb", code, FAST.model_copy(update={"wall_s": 1.5, "processes": 16}))
    # Assert
    assert run.status == "stopped" and run.stop_reason == "processes"
    assert pids_of_uid(_uid(run)) == []
    entries = audit_of(pod_site, run.run_id)
    assert entries[-1]["event"] == "pod.run.stopped" and entries[-1]["details"]["stop_reason"] == "processes"


@pytest.mark.parametrize(
    ("name", "code", "limits", "reason"),
    [
        ("memory", "b = bytearray(1024 * 1024 * 1024)\n", FAST.model_copy(update={"memory_mb": 256}), "memory"),
        ("busy", "while True:\n    pass\n", FAST.model_copy(update={"cpu_s": 1, "wall_s": 30}), "cpu"),
        ("hang", "import time\ntime.sleep(600)\n", FAST.model_copy(update={"wall_s": 1}), "wall_time"),
        (
            "ten-gb",
            "with open('/pod/outputs/big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n"
            "        f.write(bytes(1024 * 1024))\n",
            FAST,
            "file_size",
        ),
        (
            "many-files",
            "for i in range(40):\n    open(f'/pod/outputs/part{i}.bin', 'wb').write(bytes(1024 * 1024))\n"
            "import time\ntime.sleep(5)\n",
            FAST.model_copy(update={"wall_s": 5}),
            "output_size",
        ),
    ],
)
def test_pod_exhausting_a_limit_is_stopped(
    pod_site: Path, tmp_path: Path, name: str, code: str, limits: PodLimits, reason: str
) -> None:
    # Execute
    run = _run(pod_site, tmp_path, name, code, limits)
    # Assert
    stderr = (pod_site / RUNS / run.run_id / run.stderr_tail).read_text()
    assert (run.status, run.stop_reason) == ("stopped", reason), (run.signal, run.exit_code, stderr[-500:])
    held = sum(f.stat().st_size for f in _outputs(pod_site, run).rglob("*") if f.is_file())
    assert held <= limits.output_mb * 1024 * 1024  # the 10 GB file stopped at the 8 MB file-size limit
    if reason == "output_size":
        assert held == 0 and len(run.removed_outputs) > 0
    assert audit_of(pod_site, run.run_id)[-1]["details"]["stop_reason"] == reason


def test_pod_smuggling_rows_is_held_not_released(pod_site: Path, tmp_path: Path) -> None:
    # Prepare: every person row in a wide table, the same rows hidden after a PNG's end, and a link to the key
    code = """
    import csv, os, struct, zlib, duckdb
    rows = duckdb.sql("SELECT person_id, year_of_birth FROM '/pod/data/person.parquet'").fetchall()
    with open("/pod/outputs/wide.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"p{r[0]}" for r in rows])
        w.writerow([r[1] for r in rows])
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b"")
    open("/pod/outputs/figure.png", "wb").write(png + repr(rows).encode())
    os.symlink("/pod/data/person.parquet", "/pod/outputs/link.parquet")
    """
    # Execute
    run = _run(pod_site, tmp_path, "smuggle", code)
    # Assert: held in the run folder for output checking (part 2 flags them); the link is gone
    held = {o.path for o in run.outputs}
    assert run.status == "ok" and held == {"wide.csv", "figure.png"}
    assert run.removed_outputs == ["link.parquet"]
    outputs = _outputs(pod_site, run)
    assert all((outputs / name).stat().st_mode & 0o222 == 0 for name in held)  # held read-only
    assert not (pod_site / RUNS / run.run_id / "view").exists()  # the per-run data copy is gone
    assert json.loads((pod_site / RUNS / run.run_id / "run.json").read_text())["outputs_bytes"] == run.outputs_bytes
    done = audit_of(pod_site, run.run_id)[-1]
    assert done["event"] == "pod.run.ok" and (done["details"]["outputs"], done["details"]["removed_outputs"]) == (2, 1)
