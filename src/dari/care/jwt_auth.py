"""CDS Hooks 2.0 client authentication: the EHR's signed JWT, checked against its issuer's JWKS.

Rules (CDS Hooks 2.0 "Trusting CDS Clients"): asymmetric signatures only (RS256/RS384/ES256/ES384; `none` and
HMAC are refused, so no shared secret or empty signature can pass); `iss` must be an allowlisted issuer, whose
JWKS (a local file, or an https URL fetched with a short timeout and cached) holds the key named by `kid`; `aud`
must be the endpoint being called; `iat`, `exp` and `jti` are required; a `jti` seen before is refused until its
`exp`. Tokens are short-lived, as CDS Hooks asks ("no more than 5 minutes in the future"): `exp - iat` must not
exceed MAX_TOKEN_LIFETIME_S, `exp` must lie within that much (plus the leeway) of now, and `iat` not in the future
beyond the leeway; a token minted to last until 2100 is refused, however well it is signed.
"""

from __future__ import annotations

import base64
import heapq
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from dari.care.settings import IssuerConfig
from dari.errors import InputError

ALLOWED_ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
JWKS_CACHE_S = 300.0
JWKS_REFETCH_MIN_S = 30.0  # an unknown kid may mean a key rotation; refetch, but not on every request
REQUIRED_CLAIMS = ("iss", "aud", "iat", "exp", "jti")
MAX_TOKEN_LIFETIME_S = 300  # CDS Hooks 2.0: the authentication JWT expires no more than 5 minutes ahead


class JwtRejectedError(InputError):
    """The request's token cannot be trusted (HTTP 401); the message says why and nothing is scored."""


@dataclass(frozen=True)
class VerifiedClient:
    """Who called: the issuer, the subject (client id) and the token's id."""

    iss: str
    sub: str | None
    jti: str
    tenant: str | None


def load_issuers(path: Path) -> tuple[IssuerConfig, ...]:
    """Issuer allowlist from JSON `{"issuers": [{"iss": …, "jwks_file": … | "jwks_url": …}]}`; relative files
    are taken from the config file's folder."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the JWKS configuration: {exc}", file=str(path)) from None
    rows = data.get("issuers") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise InputError("must hold a non-empty list 'issuers'", file=str(path), column="issuers")
    issuers = []
    for i, row in enumerate(rows):
        try:
            issuer = IssuerConfig.model_validate(row)
        except ValueError as exc:
            raise InputError(str(exc).splitlines()[-1], file=str(path), column=f"issuers[{i}]") from None
        if issuer.jwks_file is not None and not issuer.jwks_file.is_absolute():
            issuer = issuer.model_copy(update={"jwks_file": path.parent / issuer.jwks_file})
        issuers.append(issuer)
    return tuple(issuers)


@dataclass(frozen=True)
class _Key:
    jwk: jwt.PyJWK
    declared_alg: str | None  # the JWK's own `alg`, when it names one


class _KeySource:
    """One issuer's JWKS, read from a file once or fetched from a URL and cached."""

    def __init__(self, issuer: IssuerConfig, timeout_s: float, clock: Callable[[], float]) -> None:
        self.issuer = issuer
        self.timeout_s = timeout_s
        self.clock = clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at = -1e18
        self._lock = threading.Lock()

    def _load(self) -> dict[str, _Key]:
        if self.issuer.jwks_file is not None:
            text = self.issuer.jwks_file.read_text(encoding="utf-8")
        else:
            assert self.issuer.jwks_url is not None
            response = httpx.get(self.issuer.jwks_url, timeout=self.timeout_s, follow_redirects=False)
            response.raise_for_status()
            text = response.text
        data = json.loads(text)
        rows = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ValueError("a JWKS must be an object with a 'keys' list")
        keys: dict[str, _Key] = {}
        for row in rows:
            if not isinstance(row, dict) or not row.get("kid") or row.get("use", "sig") != "sig":
                continue
            if "d" in row:
                raise ValueError(f"key {row['kid']!r} holds a private part; publish public keys only")
            keys[str(row["kid"])] = _Key(jwt.PyJWK(row), row.get("alg"))
        return keys

    def key(self, kid: str) -> _Key | None:
        """The key with `kid`, refetching a URL's JWKS when stale or when the kid is new (rate-limited)."""
        with self._lock:
            age = self.clock() - self._fetched_at
            stale = age > JWKS_CACHE_S or (kid not in self._keys and age > JWKS_REFETCH_MIN_S)
            if stale or (self.issuer.jwks_file is not None and not self._keys):
                try:
                    self._keys = self._load()
                except (OSError, httpx.HTTPError, jwt.PyJWTError, ValueError) as exc:
                    if not self._keys:
                        why = f"the JWKS of issuer {self.issuer.iss!r} cannot be read: {exc}"
                        raise JwtRejectedError(why) from None
                self._fetched_at = self.clock()
            return self._keys.get(kid)


class JtiStore(Protocol):
    """Where used token ids are kept: this process's memory (`JtiCache`) or the service's file, shared by its
    worker processes (`dari.care.service_db.SqliteJtiStore`)."""

    def claim(self, iss: str, jti: str, until: float) -> bool:
        """Record (iss, jti) until `until`; False when it is held by a token not expired yet (a replay)."""
        ...


class JtiCache:
    """Token ids already used, kept until their expiry (plus leeway), so a captured token cannot be replayed.

    Expired ids leave through a heap ordered by expiry, a few per claim: the cost of a claim stays O(log n) with
    every live token held (200 calls/s with 5-minute tokens keep 60,000), where rebuilding the table would cost
    O(n) on every call."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def claim(self, iss: str, jti: str, until: float) -> bool:
        """Record (iss, jti); False when it was seen and has not expired yet."""
        now = self.clock()
        key = (iss, jti)
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                ended, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == ended:
                    del self._seen[old]
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


class JwtVerifier:
    """Checks `Authorization: Bearer <JWT>` headers for the CDS service."""

    def __init__(
        self,
        issuers: Iterable[IssuerConfig],
        *,
        leeway_s: int = 30,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.time,
        jti_store: JtiStore | None = None,
    ) -> None:
        self.leeway_s = leeway_s
        self.clock = clock
        self._sources = {i.iss: _KeySource(i, timeout_s, clock) for i in issuers}
        self._jti: JtiStore = jti_store if jti_store is not None else JtiCache(clock)

    def verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        """The verified caller; raises JwtRejectedError naming the first rule the token breaks."""
        if not authorization or not authorization.startswith("Bearer "):
            raise JwtRejectedError("missing 'Authorization: Bearer <JWT>' header")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            header, unverified = _peek(token)
        except ValueError as exc:
            raise JwtRejectedError(f"not a JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise JwtRejectedError(f"algorithm {alg!r} is refused; allowed: {', '.join(ALLOWED_ALGORITHMS)}")
        iss = unverified.get("iss")
        source = self._sources.get(iss) if isinstance(iss, str) else None
        if source is None or not isinstance(iss, str):
            raise JwtRejectedError(f"issuer {iss!r} is not trusted by this service")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise JwtRejectedError("the JWT header has no 'kid'")
        key = source.key(kid)
        if key is None:
            raise JwtRejectedError(f"issuer {iss!r} has no key with kid {kid!r}")
        if (key.declared_alg or alg) != alg or not _same_family(key.jwk, alg):
            raise JwtRejectedError(f"key {kid!r} is not for algorithm {alg}")
        claims = self._decode(token, key.jwk, alg, iss, audience)
        if not self._jti.claim(iss, claims["jti"], float(claims["exp"]) + self.leeway_s):
            raise JwtRejectedError(f"token id (jti) {claims['jti']!r} was already used; replay refused")
        return VerifiedClient(iss, claims.get("sub"), claims["jti"], claims.get("tenant"))

    def _decode(self, token: str, key: jwt.PyJWK, alg: str, iss: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise JwtRejectedError("the JWT has expired (exp)") from None
        except jwt.InvalidAudienceError:
            raise JwtRejectedError(f"the JWT's aud is not this endpoint ({audience})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise JwtRejectedError(f"the JWT lacks the required claim {exc.claim!r}") from None
        except jwt.ImmatureSignatureError:
            raise JwtRejectedError("the JWT's iat (or nbf) lies in the future") from None
        except jwt.PyJWTError as exc:
            raise JwtRejectedError(f"the JWT does not verify: {exc}") from None
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise JwtRejectedError("the JWT's jti must be a non-empty string")
        self._check_lifetime(claims)
        # PyJWT accepts aud as a list holding ours; CDS Hooks names one endpoint, so the value must equal it.
        if claims.get("aud") not in (audience, [audience]):
            raise JwtRejectedError(f"the JWT's aud is not exactly this endpoint ({audience})")
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """Refuse long-lived tokens (CDS Hooks: short-lived); a captured token is then useless within minutes."""
        problem = _lifetime_problem(claims.get("iat"), claims.get("exp"), self.clock(), self.leeway_s)
        if problem is not None:
            raise JwtRejectedError(problem)


def _lifetime_problem(iat: Any, exp: Any, now: float, leeway_s: int) -> str | None:
    """Why a token's lifetime breaks the 5-minute rule, or None: numbers only, `exp - iat` and `exp - now` bounded."""
    numeric = (int, float)
    if isinstance(iat, bool) or isinstance(exp, bool) or not isinstance(iat, numeric) or not isinstance(exp, numeric):
        return "the JWT's iat and exp must be numbers (seconds since the epoch)"
    if exp - iat > MAX_TOKEN_LIFETIME_S:
        return f"the JWT lives {exp - iat:.0f} s (exp - iat); at most {MAX_TOKEN_LIFETIME_S} s is accepted"
    if exp - now > MAX_TOKEN_LIFETIME_S + leeway_s:
        return f"the JWT's exp lies {exp - now:.0f} s ahead; at most {MAX_TOKEN_LIFETIME_S} s is accepted"
    return None


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims read without verification, only to choose the issuer's key: `jwt.decode` then checks
    the token whole. (PyJWT's own unverified reads scan the token character by character; two of them cost a
    quarter of a millisecond per call.)"""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated parts")
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the header and claims must be JSON objects")
    return header, claims


def _same_family(key: jwt.PyJWK, alg: str) -> bool:
    """Whether the key's type fits the algorithm (RSA → RS*, EC → ES*), so no key is read as another kind."""
    kty = key.key_type
    return (kty == "RSA" and alg.startswith("RS")) or (kty == "EC" and alg.startswith("ES"))
