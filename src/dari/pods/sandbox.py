"""The pod's sandbox: bubblewrap (Debian's `bwrap`) with prlimit limits, a wall-clock kill and an output cap.

Inside, the pod sees only: the system (`/usr` read-only, with `/bin`, `/lib`… as on the host and a few files of
`/etc`), its declared Python environment (this site's virtual environment and its base interpreter, read-only),
its code at `/pod/code` and its data view at `/pod/data` (both read-only), `/pod/outputs` (the run's held outputs,
the only writable host folder), and a size-limited private tmpfs at `/pod/work` (its working directory; `/tmp`
points into it) and `/dev/shm`. Nothing else of the host or the site folder exists there: no keys, no audit,
no CDM, no other runs. New IPC, PID, UTS, cgroup and network namespaces: the network namespace has only its own
loopback, so neither the host's services on 127.0.0.1 nor DNS can be reached. The environment is cleared and
set to a fixed minimal one.

Limits (prlimit, since only cgroups v1 exist here): address space (RLIMIT_AS), CPU seconds (RLIMIT_CPU),
processes and threads (RLIMIT_NPROC), file size (RLIMIT_FSIZE), open files (RLIMIT_NOFILE), no core dumps; the
runner's clock kills the whole process group at the wall time (bwrap's `--die-with-parent` and the PID namespace
take every process of the pod with it), and it polls the outputs' size and kills the pod over the cap.

Who the pod runs as: when the runner is root (as on these machines) bwrap runs privileged without a user
namespace and the pod drops, through `setpriv`, to a uid of its own that no account or other process uses, with
no capabilities, no supplementary groups and `no_new_privs` — RLIMIT_NPROC does not apply to root, and a uid of
its own means the process limit counts only this pod and the pod cannot signal any other process. When the
runner is an ordinary user, bwrap makes an unprivileged user namespace (`--unshare-all`) and the pod keeps the
runner's uid; RLIMIT_NPROC then counts all of that user's processes, so the limit is set to the user's current
count plus the pod's allowance. cgroups v2 would add what prlimit cannot: memory for the whole pod rather than
per process (memory.max, with OOM events that name the cause), a pids.max for the pod as a whole, CPU shares
(cpu.max) instead of a CPU-seconds kill, I/O bandwidth (io.max), and freezing the pod for inspection.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dari.errors import DariError
from dari.pods.models import PodLimits

POD_CODE = "/pod/code"
POD_DATA = "/pod/data"
POD_OUTPUTS = "/pod/outputs"
POD_WORK = "/pod/work"
POD_CONFIG = "/pod/config"
#: The pod's matplotlib defaults: Korean labels render (Debian's fonts-nanum), figures need no display.
MATPLOTLIBRC = "backend: Agg\nfont.family: NanumGothic, DejaVu Sans\naxes.unicode_minus: False\n"
#: Pod uids (root runner only): a range no Debian account uses, far above the usual subuid ranges.
POD_UID_RANGE = (3_000_000, 3_900_000)
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/alternatives", "/etc/mime.types", "/etc/R")
_POLL_S = 0.05
_MB = 1024 * 1024


class SandboxUnavailableError(DariError):
    """bubblewrap (or setpriv/prlimit) is missing: a pod never runs unsandboxed."""

    exit_code = 6


@dataclass(frozen=True)
class Mounts:
    """The host folders the pod sees: code and data read-only, outputs writable."""

    code: Path
    data: Path
    outputs: Path
    config: Path | None = None  # runner-written settings (matplotlibrc), read-only at /pod/config


@dataclass(frozen=True)
class SandboxResult:
    """How the sandboxed process ended."""

    returncode: int
    timed_out: bool
    output_exceeded: bool
    wall_s: float
    identity: str
    processes_at_limit: bool = False

    @property
    def signal(self) -> int | None:
        """The signal that ended the pod (bwrap exits 128 + signal when its child was killed)."""
        if self.returncode < 0:
            return -self.returncode
        return self.returncode - 128 if 128 < self.returncode < 128 + 65 else None


def _tool(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/bin/{name}") if Path(p).is_file()), None)
    if path is None:
        raise SandboxUnavailableError(
            f"{name} is not installed: a pod runs only inside its sandbox (apt install {name})"
        )
    return path


@cache
def bwrap_version() -> str:
    """`bubblewrap 0.8.0`, or SandboxUnavailableError."""
    out = subprocess.run([_tool("bwrap"), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return out.stdout.strip() or "bubblewrap"


def pod_environment() -> dict[str, str]:
    """The fixed minimal environment every pod gets (nothing of the runner's own)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": POD_WORK,
        "TMPDIR": f"{POD_WORK}/tmp",  # noqa: S108 - the pod's private tmpfs, inside the sandbox
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "USER": "pod",
        "LOGNAME": "pod",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{POD_WORK}/.matplotlib",
        "MATPLOTLIBRC": f"{POD_CONFIG}/matplotlibrc",
        "JUPYTER_RUNTIME_DIR": f"{POD_WORK}/.jupyter",
        "DARI_POD_DATA": POD_DATA,
        "DARI_POD_OUTPUTS": POD_OUTPUTS,
        "DARI_POD_WORK": POD_WORK,
    }


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", name, name]
    return args


def _python_binds() -> list[str]:
    """The pod's declared Python: this site's virtual environment and its base interpreter, read-only."""
    roots = sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix)})
    args: list[str] = []
    made: set[str] = {"/", "/usr", "/etc", "/tmp"}  # noqa: S108 - /tmp: the sandbox's own tmpfs, mounted first
    for root in roots:
        if root.is_relative_to("/usr"):
            continue
        for parent in reversed(root.parents):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(root), str(root)]
        made.add(str(root))
    return args


def _pick_uid() -> int:
    """A uid that no process on this machine has (each pod its own: its process limit counts only itself)."""
    used = _uids_in_use()
    while True:
        uid = secrets.randbelow(POD_UID_RANGE[1] - POD_UID_RANGE[0]) + POD_UID_RANGE[0]
        if uid not in used:
            return uid


def _process_owners() -> list[tuple[int, int]]:
    """(pid, uid) of every process: the owner of /proc/<pid> is the process's uid (a stat, not a file read)."""
    owners = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                try:
                    owners.append((int(entry.name), entry.stat(follow_symlinks=False).st_uid))
                except OSError:
                    continue  # the process ended while we looked
    return owners


def _uids_in_use() -> set[int]:
    return {uid for _, uid in _process_owners()}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True  # gone already


def pids_of_uid(uid: int) -> list[int]:
    """Live processes owned by `uid` (to prove a pod left none behind, and to end any it did); zombies excluded."""
    return [pid for pid, owner in _process_owners() if owner == uid and not _zombie(pid)]


def _limits_args(limits: PodLimits, processes: int) -> list[str]:
    return [
        _tool("prlimit"),
        f"--as={limits.memory_mb * _MB}",
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}",  # SIGXCPU at the soft limit (SIGKILL a second later)
        f"--nproc={processes}",
        f"--fsize={limits.file_size_mb * _MB}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def sandbox_command(argv: list[str], mounts: Mounts, limits: PodLimits, uid: int | None) -> list[str]:
    """The full command line: bwrap, its mounts, then (as root) setpriv to `uid`, then prlimit, then `argv`."""
    cmd = [_tool("bwrap")]
    if uid is not None:  # privileged bwrap: no user namespace, so the pod can drop to a uid of its own
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-all"]
    cmd += ["--die-with-parent", "--new-session", "--hostname", "pod", "--clearenv"]
    cmd += _system_binds()
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    shm = "/dev/shm"  # noqa: S108 - the sandbox's own, size-limited (bwrap's /dev has none)
    cmd += ["--perms", "1777", "--size", str(limits.work_mb * _MB), "--tmpfs", shm]
    # /tmp is a private size-limited tmpfs of its own, mounted before the Python binds: a site (or CI's clone) whose
    # virtual environment lies under /tmp gets it bound inside this tmpfs (a /tmp symlink then could not be made).
    cmd += ["--perms", "1777", "--size", str(limits.work_mb * _MB), "--tmpfs", "/tmp"]  # noqa: S108
    cmd += _python_binds()
    cmd += ["--perms", "0755", "--dir", "/pod"]
    cmd += ["--ro-bind", str(mounts.code), POD_CODE, "--ro-bind", str(mounts.data), POD_DATA]
    cmd += ["--bind", str(mounts.outputs), POD_OUTPUTS]
    if mounts.config is not None:
        cmd += ["--ro-bind", str(mounts.config), POD_CONFIG]
    cmd += ["--perms", "1777", "--size", str(limits.work_mb * _MB), "--tmpfs", POD_WORK]
    cmd += ["--perms", "1777", "--dir", f"{POD_WORK}/tmp"]  # noqa: S108 - TMPDIR, in the private tmpfs
    for name, value in pod_environment().items():
        cmd += ["--setenv", name, value]
    cmd += ["--chdir", POD_WORK, "--"]
    if uid is not None:
        cmd += [_tool("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        cmd += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        processes = limits.processes
    else:
        processes = limits.processes + len(pids_of_uid(os.getuid()))
    return cmd + _limits_args(limits, processes) + argv


def _over_cap(folder: Path, limits: PodLimits) -> bool:
    """Whether the outputs hold more bytes or entries than the limits allow (stops counting once over)."""
    total, entries_seen, cap = 0, 0, limits.output_mb * _MB
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    entries_seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
                    if total > cap or entries_seen > limits.output_files:
                        return True
        except OSError:
            continue  # a folder removed while we counted
    return False


def _kill(proc: subprocess.Popen[bytes], uid: int | None) -> None:
    """SIGKILL the pod's process group (bwrap); the PID namespace dies with it. Then any straggler of its uid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if uid is not None:
        _end_uid(uid)


def _end_uid(uid: int, timeout_s: float = 10.0) -> None:
    """SIGKILL every process of the pod's uid until none is left (a PID namespace's teardown is not instant)."""
    deadline = time.monotonic() + timeout_s
    while (pids := pids_of_uid(uid)) and time.monotonic() < deadline:
        for pid in pids:  # only this pod runs as `uid`
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def run_sandboxed(argv: list[str], mounts: Mounts, limits: PodLimits, *, stdout: Path, stderr: Path) -> SandboxResult:
    """Run `argv` in the sandbox under `limits`; stdout/stderr go to the two files (capped by RLIMIT_FSIZE)."""
    uid = _pick_uid() if os.geteuid() == 0 else None
    if uid is not None:
        os.chown(mounts.outputs, uid, uid)  # the only folder the pod may write
    cmd = sandbox_command(argv, mounts, limits, uid)
    identity = f"{bwrap_version()}, " + (f"as uid {uid} (no capabilities)" if uid is not None else "user namespace")
    timed_out = exceeded = at_limit = False
    start = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        # The command is built here from fixed flags and this run's own paths; the pod's code runs inside it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)  # noqa: S603
        # A pidfd becomes readable the moment the pod's process ends: `Popen.wait(timeout)` instead sleeps in
        # doubling steps up to 50 ms, which added up to 50 ms to every run (a tenth of a short analysis).
        ended = select.poll()
        pidfd = os.pidfd_open(proc.pid)
        ended.register(pidfd, select.POLLIN)
        try:
            next_size_check = 0.0
            while proc.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed >= limits.wall_s:
                    timed_out = True
                    # Counted at the kill, not polled (a /proc scan per poll cost the pod CPU): did it fill its
                    # process allowance? Only a pod with a uid of its own can be counted.
                    at_limit = uid is not None and len(pids_of_uid(uid)) >= limits.processes - 1
                    _kill(proc, uid)
                    break
                if elapsed >= next_size_check:
                    next_size_check = elapsed + 0.2
                    if _over_cap(mounts.outputs, limits):
                        exceeded = True
                        _kill(proc, uid)
                        break
                ended.poll(int(_POLL_S * 1000))
        except BaseException:
            _kill(proc, uid)
            raise
        finally:
            os.close(pidfd)
    wall = time.monotonic() - start
    if uid is not None:  # a child outliving bwrap, or still dying with its namespace: end it, it is ours
        _end_uid(uid)
    if not exceeded and _over_cap(mounts.outputs, limits):
        exceeded = True
    code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return SandboxResult(code, timed_out, exceeded, wall, identity, at_limit)
