"""Soak of the CDS Hooks patient-view call with prefetch at a constant arrival rate (issue 6's target: p99 ≤ 25 ms
at 200 requests/s, no error over 10 minutes), then the same load on a minimal FastAPI endpoint as the baseline.

Each server runs in its own process (`dari cds serve`, and uvicorn serving the baseline the same way); the load
generator runs in a second process: asyncio over a pool of keep-alive HTTP/1.1 connections, open loop (request i
leaves at t0 + i/rate whatever the earlier ones are doing, so a slow server cannot slow the arrivals) and latency
counted from the intended send time (a stall is charged to every request it delays). Each request carries its own
ES384 JWT with a distinct `jti` (the service refuses replays), all signed before the run. The first `--warmup`
seconds are sent but not counted.

  .venv/bin/python benchmarks/cds_soak.py [--rate 200] [--seconds 600] [--warmup 10] [--connections 64]
                                         [--workers 2] [--json F]

Prints p50/p95/p99/max latency, achieved throughput, errors (non-200 or no answer), the generator's own send lag
(if it grows, the machine could not keep up and the figures say more about it than about the service) and the
server's CPU time per request. Exit status 1 when the service misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request  # at module level: FastAPI resolves the handler's annotations by name

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "dari-ckd-progression-patient-view"
ISSUER = "https://ehr.local"
TARGET_P99_MS = 25.0
HOOK_INSTANCE = b"00000000-0000-4000-8000-000000000000"  # replaced in each request body
IDLE_LIMIT_S = 3.0  # a pooled connection idle longer is not reused (uvicorn's keep-alive timeout is 5 s)
PRIMED_CONNECTIONS = 16  # opened before the run and used in turn


# ---------------------------------------------------------------------------------------------- the parent
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# CDS Hooks tokens live 5 minutes at most (the service refuses longer ones), so a 10-minute soak cannot sign one
# batch valid for the whole run: token i is dated around its planned send time, start + i / rate, valid from
# 120 s before to 180 s after it; the run may start up to 150 s before or 210 s after `start` and still pass.
TOKEN_BEFORE_S, TOKEN_AFTER_S = 120, 180


def _sign(args: tuple[bytes, str, float, float, int, int]) -> list[str]:
    import jwt

    pem, aud, start, rate, first, count = args
    tokens = []
    for i in range(first, first + count):
        planned = start + i / rate
        claims = {"iss": ISSUER, "aud": aud, "iat": int(planned - TOKEN_BEFORE_S), "exp": int(planned + TOKEN_AFTER_S)}
        tokens.append(jwt.encode(claims | {"jti": str(uuid.uuid4())}, pem, algorithm="ES384", headers={"kid": "ehr-1"}))
    return tokens


def _tokens(pem: bytes, aud: str, start: float, rate: float, count: int) -> list[str]:
    """`count` distinct ES384 tokens, signed in parallel before the run, each dated for its planned send time."""
    workers = os.cpu_count() or 1
    chunk = 2000
    jobs = [(pem, aud, start, rate, i, min(chunk, count - i)) for i in range(0, count, chunk)]
    with ProcessPoolExecutor(workers) as pool:
        return [t for part in pool.map(_sign, jobs) for t in part]


def _body() -> bytes:
    sys.path.insert(0, str(ROOT / "tests" / "care"))
    from care_helpers import PATIENT_ID, observation, searchset

    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1953"},
        "observations": searchset(
            observation("o1", "98979-8", 41.0, "mL/min/{1.73_m2}"),
            observation("o2", "4548-4", 8.1, "%", "2024-01-10"),
            observation("o3", "8480-6", 150.0, "mm[Hg]", "2024-02-01"),
            observation("o4", "98979-8", 47.0, "mL/min/{1.73_m2}", "2023-06-01"),
        ),
        "conditions": searchset(
            {
                "resourceType": "Condition",
                "id": "c1",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "313436004"}]},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "onsetDateTime": "2019-05-02",
            }
        ),
    }
    body = {
        "hook": "patient-view",
        "hookInstance": HOOK_INSTANCE.decode(),
        "context": {"patientId": PATIENT_ID, "userId": "Practitioner/1"},
        "prefetch": prefetch,
        "extension": {"dari-as-of": "2024-03-01"},
    }
    return json.dumps(body).encode()


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before answering {url}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"no answer from {url}")


def _wait_idle(pid: int, timeout_s: float = 120.0) -> None:
    """Wait until the server's processes use almost no CPU: start-up (imports, model loading) is over in all."""
    deadline = time.monotonic() + timeout_s
    before = _cpu_s(pid)
    while before is not None and time.monotonic() < deadline:
        time.sleep(1.0)
        after = _cpu_s(pid)
        if after is None or after - before < 0.05:
            return
        before = after


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process and its descendants (uvicorn's workers; Linux /proc), else None."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            if current == pid:
                return None
            continue  # a child that ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _run(label: str, server: list[str], ready: str, url: str, files: dict[str, Path], args: argparse.Namespace) -> Any:
    """Start a server, drive it from the generator process, stop it; the generator's summary with the CPU used."""
    proc = subprocess.Popen(server)
    try:
        _wait_ready(ready, proc)
        _wait_idle(proc.pid)  # every worker process loaded, not only the first to answer
        cpu_before = _cpu_s(proc.pid)
        generator = [
            sys.executable,
            __file__,
            "--role=generator",
            f"--url={url}",
            f"--rate={args.rate}",
            f"--seconds={args.seconds}",
            f"--warmup={args.warmup}",
            f"--connections={args.connections}",
            f"--tokens-file={files['tokens']}",
            f"--body-file={files['body']}",
        ]
        print(f"{label}: {args.rate:g} requests/s for {args.warmup:g} + {args.seconds:g} s …", file=sys.stderr)
        done = subprocess.run(generator, check=True, capture_output=True, text=True)
        cpu_after = _cpu_s(proc.pid)
        summary = json.loads(done.stdout)
        if cpu_before is not None and cpu_after is not None:
            summary["server_cpu_ms_per_request"] = (cpu_after - cpu_before) * 1000 / max(1, summary["sent"])
        return summary
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(args: argparse.Namespace) -> int:
    """Both soaks, then the table; the work folder (tokens, database) is removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="dari-cds-soak-"))
    try:
        return _soaks(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _soaks(args: argparse.Namespace, work: Path) -> int:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "ehr-1", "alg": "ES384"}
    (work / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (work / "issuers.json").write_text(json.dumps({"issuers": [{"iss": ISSUER, "jwks_file": "jwks.json"}]}))
    cds_port, base_port = _free_port(), _free_port()
    cds_base = f"http://127.0.0.1:{cds_port}"
    count = int(args.rate * (args.warmup + args.seconds)) + 10
    started = time.perf_counter()
    # the dari run starts after signing and its server's start-up (tens of seconds): see TOKEN_BEFORE_S
    tokens = _tokens(pem, f"{cds_base}/cds-services/{SERVICE}", time.time() + 30, args.rate, count)
    print(f"{count} tokens signed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    files = {"tokens": work / "tokens.txt", "body": work / "body.json"}
    files["tokens"].write_text("\n".join(tokens))
    files["body"].write_bytes(_body())
    dari = str(Path(sys.executable).parent / "dari")
    cds = [dari, "cds", "serve", "--jwks-config", str(work / "issuers.json"), "--port", str(cds_port)]
    cds += ["--db", str(work / "cds.db"), "--allow-as-of", "--workers", str(args.workers)]
    baseline = [sys.executable, __file__, "--role=baseline-server", f"--port={base_port}"]
    rows = {
        "dari cds serve": _run(
            "dari cds serve", cds, f"{cds_base}/cds-services", f"{cds_base}/cds-services/{SERVICE}", files, args
        ),
        "minimal FastAPI": _run(
            "minimal FastAPI",
            baseline,
            f"http://127.0.0.1:{base_port}/ready",
            f"http://127.0.0.1:{base_port}/cds-services/{SERVICE}",
            files,
            args,
        ),
    }
    _print(rows, args)
    if args.json:
        figures = {"rate": args.rate, "seconds": args.seconds, "workers": args.workers, "runs": rows}
        Path(args.json).write_text(json.dumps(figures, indent=2))
    cds_row = rows["dari cds serve"]
    met = cds_row["p99_ms"] <= TARGET_P99_MS and cds_row["errors"] == 0
    print(
        f"target p99 ≤ {TARGET_P99_MS:g} ms at {args.rate:g}/s with no error: {'MET' if met else 'NOT MET'}"
        f" (p99 {cds_row['p99_ms']:.1f} ms, {cds_row['errors']} errors)"
    )
    return 0 if met else 1


def _print(rows: dict[str, Any], args: argparse.Namespace) -> None:
    head = f"{'':18}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>9}{'req/s':>9}{'errors':>8}{'lag p99':>9}{'CPU/req':>9}"
    print(
        f"patient-view with prefetch, {args.rate:g} requests/s offered for {args.seconds:g} s, "
        f"dari cds serve with {args.workers} worker process(es) (ms):"
    )
    print(head)
    for label, r in rows.items():
        cpu = r.get("server_cpu_ms_per_request")
        print(
            f"{label:18}{r['p50_ms']:8.1f}{r['p95_ms']:8.1f}{r['p99_ms']:8.1f}{r['max_ms']:9.1f}"
            f"{r['throughput_per_s']:9.1f}{r['errors']:8d}{r['send_lag_p99_ms']:9.1f}"
            f"{(f'{cpu:9.2f}' if cpu is not None else '        -')}"
        )
        if r["errors"]:
            print(f"  errors by status: {r['error_kinds']}")


# ------------------------------------------------------------------------------------------- the generator
def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class _Connections:
    """Keep-alive HTTP/1.1 connections to one server, one request at a time each, opened as needed up to a limit.

    A few dozen lines of asyncio streams instead of an HTTP client library: at 200 requests/s httpx's pool spends
    more CPU than the service under test, and a load generator that cannot keep up measures itself."""

    def __init__(self, url: str, limit: int) -> None:
        parts = httpx.URL(url)
        self.host, self.port, self.path = parts.host, parts.port or 80, parts.raw_path.decode()
        self.idle: deque[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.slots = asyncio.Semaphore(limit)

    async def prime(self, count: int) -> None:
        """Open `count` connections before the run: the server's worker processes each accept some of them."""
        for _ in range(count):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.idle.append((time.perf_counter(), reader, writer))

    async def post(self, body: bytes, token: str) -> int:
        """POST the body with the bearer token; the response's status once its body is read whole."""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        async with self.slots:
            reader, writer = await self._connection()
            try:
                writer.write(head + body)
                status, keep = await _response(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self.idle.append((time.perf_counter(), reader, writer))
            else:
                writer.close()
            return status

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The least recently used idle connection (so the requests spread over every connection, and over the
        worker processes that accepted them), or a new one; one idle past the server's keep-alive (uvicorn closes
        after 5 s) is closed rather than used, as an HTTP client library would."""
        while self.idle:
            used, reader, writer = self.idle.popleft()
            if time.perf_counter() - used < IDLE_LIMIT_S and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Close the idle connections."""
        for _used, _reader, writer in self.idle:
            writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response (Content-Length or chunked); its status and whether the connection stays open."""
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


async def _generate(args: argparse.Namespace) -> dict[str, Any]:
    tokens = Path(args.tokens_file).read_text().split("\n")
    template = Path(args.body_file).read_bytes()
    total = int(args.rate * (args.warmup + args.seconds))
    if total > len(tokens):
        raise SystemExit(f"{total} requests need as many tokens; the file holds {len(tokens)}")
    latency = [0.0] * total
    lag = [0.0] * total
    status = [0] * total
    done_at = [0.0] * total
    clock = time.perf_counter  # uvloop's loop.time() has millisecond steps; latency needs finer
    pending: set[asyncio.Task[None]] = set()
    failed: dict[int, str] = {}  # request → why it got no HTTP answer
    connections = _Connections(args.url, args.connections)

    async def one(i: int, due: float) -> None:
        body = template.replace(HOOK_INSTANCE, str(uuid.uuid4()).encode())
        lag[i] = (clock() - due) * 1000
        try:
            status[i] = await asyncio.wait_for(connections.post(body, tokens[i]), timeout=10.0)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            status[i] = -1
            failed[i] = type(exc).__name__
        done_at[i] = clock()
        latency[i] = (done_at[i] - due) * 1000

    await connections.prime(min(args.connections, PRIMED_CONNECTIONS))
    t0 = clock() + 0.2
    for i in range(total):
        due = t0 + i / args.rate
        wait = due - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(one(i, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*list(pending))
    connections.close()
    first = int(args.rate * args.warmup)
    window_start = t0 + first / args.rate
    counted = range(first, total)
    measured = sorted(latency[i] for i in counted)
    lags = sorted(lag[i] for i in counted)
    errors = Counter(
        str(status[i]) if status[i] != -1 else f"no answer ({failed[i]})" for i in counted if status[i] != 200
    )
    elapsed = max(done_at[i] for i in counted) - window_start
    return {
        "sent": total,
        "counted": len(counted),
        "p50_ms": _quantile(measured, 0.50),
        "p95_ms": _quantile(measured, 0.95),
        "p99_ms": _quantile(measured, 0.99),
        "max_ms": measured[-1],
        "throughput_per_s": len(counted) / elapsed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "send_lag_p99_ms": _quantile(lags, 0.99),
    }


def _generator(args: argparse.Namespace) -> None:
    try:
        import uvloop

        summary = uvloop.run(_generate(args))
    except ImportError:
        summary = asyncio.run(_generate(args))
    print(json.dumps(summary))


# -------------------------------------------------------------------------------------- the baseline server
def _baseline_server(port: int) -> None:
    """A minimal FastAPI endpoint that reads the body and answers no card, served as `dari cds serve` serves."""
    import uvicorn

    app = FastAPI()

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/cds-services/{service_id}")
    async def hook(service_id: str, request: Request) -> dict[str, list[Any]]:
        await request.body()
        return {"cards": []}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second offered (default 200)")
    parser.add_argument("--seconds", type=float, default=600.0, help="measured duration (default 600)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds sent first and not counted (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections at most (default 64)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes of `dari cds serve` (default 2; 1 = one process)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--role", choices=("main", "generator", "baseline-server"), default="main", help=argparse.SUPPRESS
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    parser.add_argument("--body-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0 or args.connections < 1 or args.workers < 1:
        parser.error("--rate, --seconds must be positive, --warmup not negative, --connections, --workers at least 1")
    return args


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.role == "generator":
        _generator(arguments)
    elif arguments.role == "baseline-server":
        _baseline_server(arguments.port)
    else:
        sys.exit(main(arguments))
