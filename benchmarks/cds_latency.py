"""Latency of the CDS Hooks patient-view call with prefetch: `dari cds serve` in its own process, sequential client.

Prints p50/p95/p99/max over N requests after 50 warm-up ones: .venv/bin/python benchmarks/cds_latency.py [N]
This is the sequential figure (one request at a time: no queueing); the issue's target, 200 requests/s with a
load generator in its own process, is measured by benchmarks/cds_soak.py.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "care"))
from care_helpers import PATIENT_ID, observation, searchset  # noqa: E402


def main(n: int = 2000) -> None:
    work = Path(tempfile.mkdtemp(prefix="dari-cds-bench-"))
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "ehr-1", "alg": "ES384"}
    (work / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    issuers = {"issuers": [{"iss": "https://ehr.local", "jwks_file": "jwks.json"}]}
    (work / "issuers.json").write_text(json.dumps(issuers))
    port = 8891
    command = [
        str(Path(sys.executable).parent / "dari"),
        "cds",
        "serve",
        "--jwks-config",
        str(work / "issuers.json"),
        "--port",
        str(port),
        "--db",
        str(work / "cds.db"),
        "--allow-as-of",
    ]
    proc = subprocess.Popen(command)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/cds-services")
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        service = "dari-ckd-progression-patient-view"
        aud = f"{base}/cds-services/{service}"
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
        now = int(time.time())
        claims = {"iss": "https://ehr.local", "aud": aud, "iat": now, "exp": now + 300}  # CDS Hooks: 5 min at most
        tokens = [
            jwt.encode(claims | {"jti": str(uuid.uuid4())}, pem, algorithm="ES384", headers={"kid": "ehr-1"})
            for _ in range(n + 50)
        ]
        latencies = []
        with httpx.Client() as client:
            for i in range(n + 50):
                body = {
                    "hook": "patient-view",
                    "hookInstance": str(uuid.uuid4()),
                    "context": {"patientId": PATIENT_ID, "userId": "Practitioner/1"},
                    "prefetch": prefetch,
                    "extension": {"dari-as-of": "2024-03-01"},
                }
                started = time.perf_counter()
                response = client.post(aud, json=body, headers={"Authorization": f"Bearer {tokens[i]}"})
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                if i >= 50:
                    latencies.append(elapsed)
        latencies.sort()

        def q(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

        print(
            f"patient-view, {len(latencies)} sequential requests: p50 {q(0.5):.1f} ms, p95 {q(0.95):.1f} ms, "
            f"p99 {q(0.99):.1f} ms, max {latencies[-1]:.1f} ms, mean {statistics.mean(latencies):.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
