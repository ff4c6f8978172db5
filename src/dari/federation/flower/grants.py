"""How a site asks whether a job may run: the hub's `check_grant`, the only path to a yes.

Three answers to the same question (`GrantChecker.check`):

* `HubStoreGrantChecker` — on the hub's own store (SQLite/PostgreSQL), for a site node run by the hub operator
  or for tests; every check is audited by `check_grant`.
* `HubApiGrantChecker` — POST /api/v1/grants/check on the hub's REST API with the site steward's API token: what a
  hospital's SuperNode uses (the hub audits the check).
* `SyntheticOnlyGrantChecker` — `dari validate --no-governance`: says yes only for a site folder that the synth
  wrote (its `truth/` folder holds evaluation keys that exist only for synthetic data), never for real data.

All three are picklable: Flower's simulation engine ships the ClientApp, and the checker in it, to Ray workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from dari.errors import InputError
from dari.hub.governance.decision import GrantDecision

if TYPE_CHECKING:  # the hub's store and httpx load only in the checker that uses them (Ray workers import this)
    from sqlalchemy.orm import Session, sessionmaker

ANALYSIS_TYPE = "model_validation"
#: The only hosts a site may reach its hub on over plain http (the token would otherwise cross a network clear).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Written by `dari synth` into every synthetic site folder (the true risk behind the outcome); a real site's
#: pseudonymised CDM never has it.
SYNTHETIC_MARKER = Path("truth") / "ckd_progression.csv"


@runtime_checkable
class GrantChecker(Protocol):
    """May `username` run `analysis_type` on `dataset_id` now?"""

    def check(self, username: str, dataset_id: str, analysis_type: str) -> GrantDecision:
        """The hub's decision (never raises for a plain 'no')."""
        ...


class HubStoreGrantChecker:
    """Asks `dari.hub.governance.grants.check_grant` on the hub store directly (audited there)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    @classmethod
    def from_url(cls, url: str | Path) -> HubStoreGrantChecker:
        """A checker on the hub store at `url` (a SQLite path or a database URL)."""
        from dari.hub.db.engine import make_engine, require_schema, session_factory

        engine = make_engine(url)
        require_schema(engine)
        return cls(session_factory(engine))

    def check(self, username: str, dataset_id: str, analysis_type: str) -> GrantDecision:
        """The audited decision of the hub store."""
        from dari.hub.governance.grants import check_grant

        with self._factory() as session, session.begin():
            return check_grant(session, username, dataset_id, analysis_type)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # An engine does not pickle; its URL does, and the worker reopens the store.
        bind = self._factory.kw.get("bind")
        if bind is None:
            raise TypeError("HubStoreGrantChecker needs a session factory bound to an engine to be pickled")
        return (HubStoreGrantChecker.from_url, (bind.url.render_as_string(hide_password=False),))


class HubApiGrantChecker:
    """Asks the hub's REST API (`POST /api/v1/grants/check`) with a site steward's API token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0) -> None:
        require_secure_hub_url(url)
        self.url, self.token, self.timeout_s = url.rstrip("/"), token, timeout_s

    def check(self, username: str, dataset_id: str, analysis_type: str) -> GrantDecision:
        """The hub's decision; an unreachable hub or a refused token is a 'no' with the reason."""
        import httpx

        body = {"username": username, "dataset_id": dataset_id, "analysis_type": analysis_type}
        try:
            response = httpx.post(
                f"{self.url}/api/v1/grants/check",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            return GrantDecision(allowed=False, grant_id=None, reason=f"hub unreachable: {type(exc).__name__}")
        if response.status_code != 200:
            return GrantDecision(allowed=False, grant_id=None, reason=f"hub answered HTTP {response.status_code}")
        return GrantDecision.model_validate(response.json())


def require_secure_hub_url(url: str) -> None:
    """Refuse (`InputError`) a hub URL that would send a site's token in the clear: https, or http on loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return
    # The host is named, never the rest of the URL (it could carry credentials).
    raise InputError(f"hub URL must use https:// (plain http only on loopback), got {parts.scheme}://{parts.hostname}")


def is_synthetic_site(folder: Path) -> bool:
    """Whether a site folder was written by `dari synth` (it holds the synthetic-only truth file)."""
    return (folder / SYNTHETIC_MARKER).is_file()


class SyntheticOnlyGrantChecker:
    """No hub: allows a dataset only when its site folder holds synthetic data (for local checks and demos)."""

    def __init__(self, folders: Mapping[str, str | Path]) -> None:
        self.folders = {k: str(v) for k, v in folders.items()}

    def check(self, username: str, dataset_id: str, analysis_type: str) -> GrantDecision:
        """Yes for a synthetic site folder, no otherwise."""
        folder = self.folders.get(dataset_id)
        if folder is None:
            return GrantDecision(allowed=False, grant_id=None, reason=f"no site folder known for {dataset_id}")
        if not is_synthetic_site(Path(folder)):
            return GrantDecision(
                allowed=False, grant_id=None, reason="no governance: allowed only on synthetic data (no synth marker)"
            )
        return GrantDecision(allowed=True, grant_id=None, reason="synthetic data, no governance")
