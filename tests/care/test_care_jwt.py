"""CDS Hooks client JWTs: each rule that must refuse a token answers 401 and scores nothing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from care_helpers import BASE_URL, EhrKeys, hook_body
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

SERVICE = "dari-ckd-progression-patient-view"
AUD = f"{BASE_URL}/cds-services/{SERVICE}"


def _call(client: TestClient, token: str | None, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/cds-services/{SERVICE}", json=body, headers=headers)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_care_jwt_valid_es384_and_rs256_accepted(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    for alg in ("ES384", "RS256"):
        assert _call(client, ehr_keys.token(AUD, alg=alg), hook_body(prefetch())).status_code == 200


def _hs256(keys: EhrKeys) -> str:
    now = int(time.time())
    claims = {"iss": "https://ehr.test.example", "aud": AUD, "exp": now + 60, "jti": "hs"}
    return jwt.encode(claims, "shared-secret-of-32-bytes-or-more!!", algorithm="HS256", headers={"kid": "ec1"})


def _alg_none(keys: EhrKeys) -> str:
    now = int(time.time())
    claims = {"iss": "https://ehr.test.example", "aud": AUD, "exp": now + 60, "jti": "none"}
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'ec1'})}.{_b64(claims)}."


def _forged(keys: EhrKeys) -> str:
    other = ec.generate_private_key(ec.SECP384R1())
    now = int(time.time())
    claims = {"iss": "https://ehr.test.example", "aud": AUD, "exp": now + 60, "jti": "forged"}
    return jwt.encode(claims, other, algorithm="ES384", headers={"kid": "ec1"})


CASES: dict[str, tuple[Callable[[EhrKeys], str], str]] = {
    "hs256": (_hs256, "algorithm 'HS256' is refused"),
    "alg_none": (_alg_none, "algorithm 'none' is refused"),
    "wrong_audience": (lambda k: k.token(f"{BASE_URL}/cds-services/other"), "aud"),
    "audience_list_with_other": (lambda k: k.token([AUD, "https://elsewhere"]), "exactly"),  # type: ignore[arg-type]
    "expired": (lambda k: k.token(AUD, exp=int(time.time()) - 3600), "expired"),
    "no_exp": (lambda k: k.token(AUD, exp=None), "'exp'"),
    "no_jti": (lambda k: k.token(AUD, jti=None), "'jti'"),
    "no_iat": (lambda k: k.token(AUD, iat=None), "'iat'"),
    "exp_in_2100": (lambda k: k.token(AUD, exp=4102444800), "at most 300 s"),
    "lives_an_hour": (lambda k: k.token(AUD, exp=int(time.time()) + 3600, iat=int(time.time())), "at most 300 s"),
    "iat_in_future": (lambda k: k.token(AUD, iat=int(time.time()) + 3600, exp=int(time.time()) + 3700), "future"),
    "unknown_issuer": (lambda k: k.token(AUD, iss="https://rogue.example"), "not trusted"),
    "unknown_kid": (lambda k: k.token(AUD, kid="nope"), "no key with kid 'nope'"),
    "kid_for_other_alg": (lambda k: k.token(AUD, alg="ES384", kid="rsa1"), "is not for algorithm"),
    "forged_signature": (_forged, "does not verify"),
    "garbage": (lambda k: "not.a.jwt", "not a JWT"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_care_jwt_rejected(
    case: str, client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare
    make, reason = CASES[case]
    # Execute
    response = _call(client, make(ehr_keys), hook_body(prefetch()))
    # Assert: 401 with the reason, and no card issued
    assert response.status_code == 401, response.text
    assert reason in response.json()["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_care_jwt_replayed_jti_rejected(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    token = ehr_keys.token(AUD)
    assert _call(client, token, hook_body(prefetch())).status_code == 200
    replay = _call(client, token, hook_body(prefetch()))
    assert replay.status_code == 401 and "replay" in replay.json()["message"]


def test_care_jwt_missing_header_rejected(client: TestClient, prefetch: Callable[..., dict[str, Any]]) -> None:
    response = _call(client, None, hook_body(prefetch()))
    assert response.status_code == 401 and "Authorization" in response.json()["message"]


def test_care_jwt_rejection_issues_no_card(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    _call(client, _hs256(ehr_keys), hook_body(prefetch()))
    from sqlalchemy import func, select

    from dari.care.feedback import IssuedCard

    store = client.app.state.feedback_store  # type: ignore[attr-defined]
    from sqlalchemy.orm import Session

    with Session(store.engine) as s:
        assert s.scalar(select(func.count()).select_from(IssuedCard)) == 0


def test_care_jti_cache_refuses_replay_until_expiry_and_forgets_expired() -> None:
    # Prepare: 1,000 tokens used at t=0, expiring at t=1000..1999
    from dari.care.jwt_auth import JtiCache

    now = [0.0]
    cache = JtiCache(lambda: now[0])
    assert all(cache.claim("iss", f"t{i}", 1000.0 + i) for i in range(1000))
    # Execute: time passes beyond the first 501 expiries; one new token is claimed
    now[0] = 1500.0
    assert cache.claim("iss", "new", 2500.0)
    # Assert: expired ids are gone, live ones still refuse a replay, an expired id is no longer held
    assert len(cache) == 1000 - 501 + 1
    assert not cache.claim("iss", "t600", 1600.0)
    assert not cache.claim("iss", "new", 2500.0)
    assert cache.claim("iss", "t100", 3000.0)
    assert cache.claim("other-iss", "t600", 1600.0)  # ids are per issuer
