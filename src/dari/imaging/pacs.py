"""A real Orthanc PACS per site: its JSON configuration, start, health wait, stop, as a context manager.

Stable names (other modules build on them):

- `OrthancServer(root, ...)`: one Orthanc process whose configuration, index and storage live under `root`.
  `start()` / `stop()` / `wait_healthy()`, or `with OrthancServer(root) as pacs:`. Attributes `http_port`,
  `dicom_port`, `aet`, `url` (REST root), `dicomweb_url` (DICOMweb root), `username`, `password`.
  `rest(method, path)` calls Orthanc's REST API with the server's credentials.
- `DicomPeer(aet, host, port)`: a DICOM node Orthanc knows by name (dari's own C-STORE SCP, another PACS).
- `orthanc_missing()`: None when Orthanc and its DICOMweb plugin are installed, else the reason (tests skip on it).
- `free_port()`: a free TCP port on loopback.

Security: the credentials are generated per server (or given), written only into the configuration file (mode
0600) beside the storage, never on the command line. Orthanc 1.10 has no bind-address option: its HTTP server
refuses non-loopback clients (`RemoteAccessAllowed: false`) and its DICOM server accepts associations only from the
peers configured here, checked by AE title and host (`DicomCheckModalityHost`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from dari.atomic import atomic_path
from dari.errors import DariError

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
DICOMWEB_ROOT = "/dicom-web/"
LOOPBACK = "127.0.0.1"


class PacsError(DariError):
    """The PACS could not be started, reached or asked."""

    exit_code = 5


@dataclass(frozen=True)
class DicomPeer:
    """A DICOM application entity Orthanc may talk to (and accept associations from)."""

    aet: str
    host: str
    port: int


def free_port() -> int:
    """A TCP port free on loopback now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def orthanc_missing(executable: str = ORTHANC, plugin: str = DICOMWEB_PLUGIN) -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed; otherwise what is missing and how to add it."""
    if shutil.which(executable) is None:
        return f"Orthanc not found at {executable} (Debian: apt-get install orthanc orthanc-dicomweb)"
    if not Path(plugin).is_file():
        return f"Orthanc DICOMweb plugin not found at {plugin} (Debian: apt-get install orthanc-dicomweb)"
    return None


@dataclass
class OrthancServer:
    """One Orthanc process on loopback, configured, stored and logged under `root`."""

    root: Path
    name: str = "dari-site"
    aet: str = "DARI_PACS"
    http_port: int = 0
    dicom_port: int = 0
    username: str = "dari"
    password: str = ""
    peers: dict[str, DicomPeer] = field(default_factory=dict)
    executable: str = ORTHANC
    plugin: str = DICOMWEB_PLUGIN
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.http_port = self.http_port or free_port()
        self.dicom_port = self.dicom_port or free_port()
        self.password = self.password or secrets.token_urlsafe(18)

    @classmethod
    def from_config(cls, root: Path) -> OrthancServer:
        """The server whose configuration `write_config` left under `root` (ports and credentials as written)."""
        path = Path(root) / "orthanc.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            ((username, password),) = config["RegisteredUsers"].items()
            peers = {k: DicomPeer(v["AET"], v["Host"], int(v["Port"])) for k, v in config["DicomModalities"].items()}
            return cls(
                Path(root), name=config["Name"], aet=config["DicomAet"], http_port=int(config["HttpPort"]),
                dicom_port=int(config["DicomPort"]), username=username, password=password, peers=peers,
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PacsError(f"no usable PACS configuration at {path}: {type(exc).__name__}") from None

    @property
    def url(self) -> str:
        """Root of Orthanc's REST API."""
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """Root of the DICOMweb services (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.url}{DICOMWEB_ROOT.rstrip('/')}"

    @property
    def dicom_node(self) -> DicomPeer:
        """How DIMSE clients reach this PACS (AE title, loopback, DICOM port)."""
        return DicomPeer(self.aet, LOOPBACK, self.dicom_port)

    @property
    def config_path(self) -> Path:
        """Where the configuration (with the credentials, mode 0600) is written."""
        return self.root / "orthanc.json"

    @property
    def log_path(self) -> Path:
        """Orthanc's stdout and stderr."""
        return self.root / "orthanc.log"

    def config(self) -> dict[str, Any]:
        """Orthanc's JSON configuration for this server."""
        return {
            "Name": self.name,
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "Plugins": [self.plugin],
            "DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT, "EnableWado": True, "Ssl": False},
            # Only the configured peers may associate, checked by AE title and by host.
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowMove": False,
            "DicomAlwaysAllowGet": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {
                key: {
                    "AET": peer.aet,
                    "Host": peer.host,
                    "Port": peer.port,
                    "AllowEcho": True,
                    "AllowFind": True,
                    "AllowMove": True,
                    "AllowGet": True,
                    "AllowStore": True,
                }
                for key, peer in self.peers.items()
            },
            "StableAge": 2,  # a study counts as complete 2 s after its last instance (the gateway waits for it)
            "OverwriteInstances": False,  # a study already stored is never replaced by a later copy
            "HttpTimeout": 30,
            "LimitFindResults": 0,
            "StorageCompression": False,
            "SaveJobs": False,
        }

    def write_config(self) -> Path:
        """Write the configuration atomically, readable by the owner only (it holds the credentials)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.config_path) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.config(), handle, indent=2)
        return self.config_path

    @property
    def running(self) -> bool:
        """Whether the process dari started is still alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> OrthancServer:
        """Start Orthanc and wait until its REST API and DICOMweb plugin answer."""
        missing = orthanc_missing(self.executable, self.plugin)
        if missing:
            raise PacsError(missing)
        if self.running:
            return self
        self.write_config()
        log = self.log_path.open("ab")
        try:
            # The executable is dari's own setting (not user input); the config path is ours.
            self._process = subprocess.Popen(  # noqa: S603
                [self.executable, str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
            )
        finally:
            log.close()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        """Poll `/system` and the DICOMweb root until both answer; Orthanc's `/system` record."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PacsError(f"Orthanc exited with code {self._process.returncode}; see {self.log_path}")
            try:
                system = self.rest("GET", "/system")
                self.rest("GET", f"{DICOMWEB_ROOT}studies", params={"limit": "1"})
                return dict(system)
            except (httpx.HTTPError, PacsError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise PacsError(f"Orthanc on port {self.http_port} not healthy after {timeout:.0f} s: {last}")

    def health(self) -> dict[str, Any]:
        """Orthanc's version, name, AE title and counts of what it stores."""
        system = self.rest("GET", "/system")
        stats = self.rest("GET", "/statistics")
        return {
            "name": system.get("Name"),
            "version": system.get("Version"),
            "aet": system.get("DicomAet"),
            "http_port": self.http_port,
            "dicom_port": self.dicom_port,
            "studies": stats.get("CountStudies"),
            "instances": stats.get("CountInstances"),
            "dicomweb_plugin": "dicom-web" in " ".join(self.rest("GET", "/plugins")),
        }

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call Orthanc's REST API with this server's credentials; the decoded JSON (or raw bytes)."""
        response = httpx.request(
            method, f"{self.url}{path}", auth=(self.username, self.password), timeout=30.0, **kwargs
        )
        if response.status_code >= 400:
            raise PacsError(f"Orthanc {method} {path}: HTTP {response.status_code}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def request_stop(self) -> None:
        """Send SIGTERM without waiting (Orthanc takes about 3 s to stop: stop several at once, then `stop()`)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop Orthanc (SIGTERM, then SIGKILL after `timeout`); its storage stays under `root`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
