"""Attacks on what a site takes in: extracts, model files, same-day values and CDS tokens (issue 13, leaks 8, 9).

Each test is one move of an attacker (or of a broken export): what it did, what leaked before, what happens now.
Real parts throughout: a synthetic extract from `dari synth` through the real ETL into DuckDB, ONNX Runtime, the
CDS service over Starlette's HTTP test client with ES384 JWTs checked against a JWKS file.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import jwt
import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, numpy_helper

from dari.care import CdsSettings, IssuerConfig, ServedModel, create_app
from dari.care.jwt_auth import JwtRejectedError, JwtVerifier
from dari.cdm.store import open_store
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.etl.pipeline import run_etl
from dari.etl.reader import ExtractIntegrityWarning
from dari.federation.flower.grants import SyntheticOnlyGrantChecker
from dari.federation.flower.simulation import build_job
from dari.federation.flower.site_work import run_site_job
from dari.federation.guard import SiteBinding
from dari.models import ModelFileError, ModelOutputError, OnnxModel, extract_cohort_features, load_spec
from dari.models.reference import reference_model_paths
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

BASE_URL = "https://cds.attack.example"
ISSUER = "https://ehr.attack.example"
SERVICE = "dari-ckd-progression-patient-view"
AUD = f"{BASE_URL}/cds-services/{SERVICE}"
PATIENT = "p1"
AS_OF = "2024-03-01"
EGFR = "98979-8"
SPEC = load_spec(reference_model_paths().spec)


# ---------------------------------------------------------------------------------------------- sites and files


def _site(root: Path, index: int, n: int, seed: int) -> Path:
    profile = network_profiles(3)[index]
    folder = root / profile.site_id
    generate_site(profile, folder, n, seed=seed)
    run_etl(folder)
    return folder


@pytest.fixture(scope="module")
def cp949_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-2 of the synthetic network (CP949, creatinine in µmol/L), 300 patients, extract and CDM."""
    return _site(tmp_path_factory.mktemp("attack-inputs"), 1, 300, 41)


@pytest.fixture(scope="module")
def utf8_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-3 (UTF-8), 150 patients."""
    return _site(tmp_path_factory.mktemp("attack-inputs-utf8"), 2, 150, 43)


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """A throw-away copy of a site folder (extract and the CDM an earlier ETL built)."""
    import shutil

    def copy(site: Path) -> Path:
        return Path(shutil.copytree(site, tmp_path / site.name))

    return copy


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _manifest(site: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((site / "extract" / "manifest.json").read_text(encoding="utf-8"))
    return data


def _write_manifest(site: Path, data: dict[str, Any]) -> None:
    (site / "extract" / "manifest.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _refused(site: Path) -> InputError:
    """Run the ETL expecting a refusal; the site folder (its CDM included) must be byte-identical afterwards."""
    before = _snapshot(site)
    with pytest.raises(InputError) as info:
        run_etl(site)
    assert _snapshot(site) == before, "the refused ETL changed the site's files"
    return info.value


# ---------------------------------------------------------------------------------------------- extracts


def test_truncated_extract_cut_at_a_line_boundary_is_refused_and_the_store_kept(
    cp949_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack: the lab file is cut cleanly at a line boundary (a partial export: 60 % of the rows), so it parses.

    Before: it loaded without a word (21,100 of 35,054 rows) and the CDM silently lost 40 % of the labs.
    Now: refused before anything is written, naming the file and the expected vs found row count."""
    # Prepare
    site = copy_of(cp949_site)
    path = site / "extract" / "lab_results.csv"
    lines = path.read_bytes().split(b"\n")
    expected = _manifest(site)["files"]["lab_results"]["rows"]
    kept = int(expected * 0.6)
    path.write_bytes(b"\n".join(lines[: kept + 1]) + b"\n")  # header + `kept` whole rows
    # Execute
    exc = _refused(site)
    # Assert
    assert Path(str(exc.file)) == path
    assert f"holds {kept} data rows" in str(exc) and f"declares {expected}" in str(exc)


@pytest.mark.postgres
def test_truncated_extract_leaves_a_postgresql_cdm_as_it_was(
    cp949_site: Path, copy_of: Callable[[Path], Path], pg_schema: Callable[[], str], pg: Any
) -> None:
    """Attack (variant): the same cut-off export, with the site's CDM in PostgreSQL.

    Now: refused while still in the DuckDB staging file; the schema keeps every row it had."""
    # Prepare: a good ETL into a fresh schema, then a truncated lab file
    from pg_server import PG_URL

    site, schema = copy_of(cp949_site), pg_schema()
    url = f"{PG_URL}?schema={schema}"
    run_etl(site, target=url)
    count = f'SELECT count(*) FROM "{schema}".measurement'
    before = pg.execute(count).fetchone()[0]
    path = site / "extract" / "lab_results.csv"
    path.write_bytes(b"\n".join(path.read_bytes().split(b"\n")[:100]) + b"\n")
    # Execute
    with pytest.raises(InputError, match="declares"):
        run_etl(site, target=url)
    # Assert
    assert before > 0 and pg.execute(count).fetchone()[0] == before


def test_truncation_with_a_doctored_row_count_is_caught_by_the_checksum(
    cp949_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack: truncate the diagnoses and edit manifest.json's row count to match, so counting finds nothing.

    Before: no checksum existed. Now: the SHA-256 differs and the file is refused."""
    # Prepare
    site = copy_of(cp949_site)
    path = site / "extract" / "diagnoses.csv"
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    path.write_bytes(b"\n".join(lines[:-25]) + b"\n")
    manifest = _manifest(site)
    manifest["files"]["diagnoses"]["rows"] -= 25
    _write_manifest(site, manifest)
    # Execute
    exc = _refused(site)
    # Assert
    assert Path(str(exc.file)) == path and "SHA-256" in str(exc)


def test_one_changed_byte_with_the_same_row_count_is_caught_by_the_checksum(
    cp949_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack: change one digit of one lab value (same rows, still valid CSV, still a plausible value).

    Before: the CDM carried the altered value. Now: refused, the row count matching but the SHA-256 not."""
    # Prepare
    site = copy_of(cp949_site)
    path = site / "extract" / "lab_results.csv"
    data = bytearray(path.read_bytes())
    at = data.index(b"\n", len(data) // 2) + 1
    digit = next(i for i in range(at, len(data)) if chr(data[i]).isdigit())
    data[digit] = ord("7") if data[digit] != ord("7") else ord("3")
    path.write_bytes(bytes(data))
    # Execute
    exc = _refused(site)
    # Assert
    assert "SHA-256" in str(exc) and "row count" in str(exc) and "matches" in str(exc)


def test_a_swapped_row_keeping_the_count_is_caught_by_the_checksum(
    utf8_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack (variant): delete one visit and duplicate another, so the count stays equal and the file parses
    (the duplicate key would be refused, so a fresh key is used). Now: refused by the SHA-256."""
    # Prepare
    site = copy_of(utf8_site)
    path = site / "extract" / "visits.csv"
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    first_field = lines[-1].split(b",", 1)
    forged = str(int(first_field[0]) + 1_000_000).encode() + b"," + first_field[1]
    path.write_bytes(b"\n".join([*lines[:-2], lines[-1], forged]) + b"\n")
    # Execute
    exc = _refused(site)
    # Assert
    assert Path(str(exc.file)) == path and "SHA-256" in str(exc)


def _put_nul(site: Path, name: str, column: str, data_row: int, encoding: str) -> Path:
    """Insert a NUL byte inside `column` of data row `data_row`, and reseal the manifest: the export itself holds it."""
    path = site / "extract" / f"{name}.csv"
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode(encoding).lstrip("\ufeff")]))
    fields = next(csv.reader([lines[data_row].decode(encoding)]))
    k = header.index(column)
    assert len(fields[k]) > 1
    fields[k] = fields[k][:1] + "\x00" + fields[k][1:]
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="").writerow(fields)
    lines[data_row] = buf.getvalue().encode(encoding)
    path.write_bytes(b"\n".join(lines))
    manifest = _manifest(site)
    manifest["files"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _write_manifest(site, manifest)
    return path


def test_nul_byte_in_a_cp949_file_is_refused_with_file_row_column(
    cp949_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack: a NUL byte inside a patient's name in the CP949 patients file (checksum honestly matching).

    Before: the NUL became NULL (or cut the value) silently. Now: refused at the exact file, line and column,
    and the message carries no value of the row."""
    # Prepare
    site = copy_of(cp949_site)
    path = _put_nul(site, "patients", "name", 5, "cp949")
    row = path.read_bytes().split(b"\n")[5].decode("cp949", errors="replace")
    # Execute
    exc = _refused(site)
    # Assert
    assert (Path(str(exc.file)), exc.row, exc.column) == (path, 6, "name")
    assert "NUL" in str(exc)
    assert not any(len(v) > 3 and v in str(exc) for v in row.replace("\x00", "").split(","))


def test_nul_byte_in_a_utf8_lab_code_is_refused(utf8_site: Path, copy_of: Callable[[Path], Path]) -> None:
    """Attack (variant): NUL inside a lab code of a UTF-8 file, where DuckDB would keep a cut code. Refused."""
    # Prepare
    site = copy_of(utf8_site)
    path = _put_nul(site, "lab_results", "lab_code", 40, "utf-8")
    # Execute
    exc = _refused(site)
    # Assert
    assert (Path(str(exc.file)), exc.row, exc.column) == (path, 41, "lab_code")


def test_stripping_the_checksums_is_not_silent(cp949_site: Path, copy_of: Callable[[Path], Path]) -> None:
    """Attack (downgrade): remove every sha256 from manifest.json so an altered file cannot be detected.

    Now: an old-style manifest still loads (older extracts keep working) but every file raises a warning that
    names it; a truncated file is still caught by its row count."""
    # Prepare
    site = copy_of(cp949_site)
    manifest = _manifest(site)
    for entry in manifest["files"].values():
        entry.pop("sha256")
    _write_manifest(site, manifest)
    # Execute
    with pytest.warns(ExtractIntegrityWarning, match="lab_results") as caught:
        run_etl(site)
    # Assert
    assert len(caught) >= len(manifest["files"])
    lab = site / "extract" / "lab_results.csv"
    lab.write_bytes(b"\n".join(lab.read_bytes().split(b"\n")[:50]) + b"\n")
    with pytest.warns(ExtractIntegrityWarning):
        exc = _refused(site)
    assert "declares" in str(exc)


# ---------------------------------------------------------------------------------------------- model files


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], width: int = SPEC.n_features) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N"])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _const_bomb(side: int) -> bytes:
    """A ~260-byte model: ConstantOfShape([side, side]) summed into the output (side 92,000: 34 GB of floats)."""
    shape = numpy_helper.from_array(np.array([side, side], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Add", ["m", "s"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probability"]),
    ]
    return _model(nodes, [shape])


def _expand_bomb() -> bytes:
    """Variant: Expand the input's row mean to [N, 200000, 50000] (40 GB per row) before reducing it."""
    shape = numpy_helper.from_array(np.array([1, 200_000, 50_000], dtype=np.int64), "shape")
    axes = numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Unsqueeze", ["m", "axes"], ["m3"]),
        helper.make_node("Expand", ["m3", "shape"], ["big"]),
        helper.make_node("ReduceMean", ["big"], ["probability"], axes=[1, 2], keepdims=0),
    ]
    return _model(nodes, [shape, axes])


def _value_bomb() -> bytes:
    """Variant no load check can see: the size comes from the input's values (ConstantOfShape of max(x))."""
    ax = numpy_helper.from_array(np.array([0], dtype=np.int64), "ax")
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
        helper.make_node("Cast", ["mx"], ["mi"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["mi", "ax"], ["m1"]),
        helper.make_node("Concat", ["m1", "m1"], ["shape"], axis=0),
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["m", "s0"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probability"]),
    ]
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    return _model(nodes, [ax, zero])


def _nan_model() -> bytes:
    """A model whose every output is NaN (0/0)."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Sub", ["m", "m"], ["zero"]),
        helper.make_node("Div", ["zero", "zero"], ["probability"]),
    ]
    return _model(nodes, [])


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_268_byte_memory_bomb_is_refused_at_load(tmp_path: Path) -> None:
    """Attack: a model of a few hundred bytes whose ConstantOfShape asks for 34 GB when it runs.

    Before: it loaded, and inference asked for 34 GB (a 500 from the service, or the node killed).
    Now: refused at load, naming the tensor and the limit; no session ever runs it."""
    # Prepare
    data = _const_bomb(92_000)
    assert len(data) < 400
    path = _write(tmp_path, "bomb.onnx", data)
    # Execute
    with pytest.raises(ModelFileError) as info:
        OnnxModel.load(path, spec=SPEC)
    # Assert
    assert "'big'" in str(info.value) and "33,856,000,000 bytes" in str(info.value)


def test_expand_bomb_scaled_by_the_batch_is_refused_at_load(tmp_path: Path) -> None:
    """Attack (variant): Expand to a huge shape that also grows with the batch. Refused at load."""
    path = _write(tmp_path, "expand.onnx", _expand_bomb())
    with pytest.raises(ModelFileError, match="limit"):
        OnnxModel.load(path, spec=SPEC)


def test_value_dependent_bomb_fails_one_run_under_the_arena_cap(tmp_path: Path) -> None:
    """Attack (variant): the huge shape comes from the input values, which no load check can know.

    Now: it loads, a harmless row scores, and a row asking for 3.6 GB fails that run with ModelOutputError
    (the process arena is capped) instead of allocating it; the model then scores harmless rows again."""
    # Prepare
    model = OnnxModel.load(_write(tmp_path, "value.onnx", _value_bomb()), spec=SPEC)
    small = np.full((1, SPEC.n_features), 2.0)
    huge = np.full((1, SPEC.n_features), 30_000.0)
    # Execute / Assert
    assert model.predict_proba(small).shape == (1,)
    with pytest.raises(ModelOutputError, match="failed at inference"):
        model.predict_proba(huge)
    assert model.predict_proba(np.vstack([small, small])).shape == (2,)  # the session survives the refusal


def test_nan_model_at_a_site_is_a_reported_failure_naming_the_model(cp949_site: Path, tmp_path: Path) -> None:
    """Attack: a validation job ships a model that returns NaN for every patient.

    Before: the NaN reached the metrics and the site job crashed. Now: the site reports status 'failed' with
    the reason, naming the model; nothing else leaves."""
    # Prepare
    path = _write(tmp_path, "nan.onnx", _nan_model())
    job, model_bytes = build_job(
        [cp949_site], path, reference_model_paths().spec, requester="r", threshold=0.2, rules=DisclosureRules()
    )
    checker = SyntheticOnlyGrantChecker({"site-2-cdm": cp949_site})
    # Execute
    site = SiteBinding(site_id="site-2", folder=str(cp949_site))
    report, scored = run_site_job(job, model_bytes, site, checker)
    # Assert
    assert report.status == "failed" and scored is None
    assert "NaN" in report.reason and "model.onnx" in report.reason
    assert report.metrics is None and report.statistics is None


# ---------------------------------------------------------------------------------------------- CDS service


@dataclasses.dataclass(frozen=True)
class _Ehr:
    pem: bytes
    jwks: Path

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "sub": "ehr", "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        body = {k: v for k, v in (body | claims).items() if v is not None}
        return jwt.encode(body, self.pem, algorithm="ES384", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> _Ehr:
    """The EHR's P-384 key and a JWKS file with its public half."""
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "alg": "ES384"}
    jwks = tmp_path_factory.mktemp("ehr") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _Ehr(pem, jwks)


@pytest.fixture(scope="module")
def reference() -> ServedModel:
    """The shipped reference model."""
    return ServedModel.load("reference")


def _service(tmp_path: Path, ehr: _Ehr, model: ServedModel) -> Iterator[TestClient]:
    settings = CdsSettings(
        base_url=BASE_URL,
        database=tmp_path / "cds.db",
        issuers=(IssuerConfig(iss=ISSUER, jwks_file=ehr.jwks),),
        validation_report_url="https://hub.attack.example/validation",
        allow_as_of=True,
    )
    app = create_app(settings, model)
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
    app.state.feedback_store.close()


@pytest.fixture
def cds(tmp_path: Path, ehr: _Ehr, reference: ServedModel) -> Iterator[TestClient]:
    """The CDS service with the reference model."""
    yield from _service(tmp_path, ehr, reference)


def _obs(oid: str, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _hook(egfrs: list[dict[str, Any]]) -> dict[str, Any]:
    """A patient-view call for a 71-year-old diabetic man with the given eGFR observations (in that order)."""
    others = [
        _obs("o-a1c", "4548-4", 8.1, "%", "2024-01-10"),
        _obs("o-sbp", "8480-6", 150.0, "mm[Hg]", "2024-02-01"),
    ]
    condition = {
        "resourceType": "Condition",
        "id": "c-dm",
        "code": {"coding": [{"system": "http://www.hl7korea.or.kr/CodeSystem/kcd-8", "code": "E11.9"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "onsetDateTime": "2019-05-02",
    }

    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}

    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": PATIENT},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": PATIENT, "gender": "male", "birthDate": "1953"},
            "observations": bundle(*egfrs, *others),
            "conditions": bundle(condition),
        },
        "extension": {"dari-as-of": AS_OF},
    }


def _call(client: TestClient, ehr: _Ehr, body: dict[str, Any]) -> Any:
    return client.post(f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {ehr.token()}"})


def _answer(response: Any) -> tuple[int, Any]:
    """What decides care: the status and the cards' indicator and probability (not the per-call uuids)."""
    body = response.json()
    if response.status_code != 200:
        return response.status_code, body.get("error")
    cards = [(c["indicator"], c["extension"]["dari-probability"]) for c in body["cards"]]
    return 200, (cards, body.get("extension"))


U = "mL/min/{1.73_m2}"


@pytest.mark.parametrize(
    ("first", "second"),
    [((45.0, "08:10"), (15.0, "14:30")), ((15.0, "08:10"), (45.0, "14:30"))],
    ids=["45-then-15", "15-then-45"],
)
def test_same_day_egfr_in_either_bundle_order_gives_the_same_answer(
    cds: TestClient, ehr: _Ehr, first: tuple[float, str], second: tuple[float, str]
) -> None:
    """Attack: two eGFRs on the same day (45 in the morning, 15 in the afternoon, or the other way round), sent in
    both bundle orders.

    Before: time of day was ignored and the first in the bundle won, so swapping the entries flipped card/no card.
    Now: the later one by time decides, whichever order the bundle has."""
    # Prepare
    a = _obs("o-a", EGFR, first[0], U, f"{AS_OF}T{first[1]}:00+09:00")
    b = _obs("o-b", EGFR, second[0], U, f"{AS_OF}T{second[1]}:00+09:00")
    # Execute
    forward, backward = _answer(_call(cds, ehr, _hook([a, b]))), _answer(_call(cds, ehr, _hook([b, a])))
    # Assert: same answer, and it follows the later value (15 is outside the model's population: no card)
    assert forward == backward
    status, (cards, extension) = forward
    assert status == 200
    if second[0] == 15.0:
        assert cards == [] and "15" in extension["dari-not-applicable"]
    else:
        assert len(cards) == 1


def test_same_instant_egfr_45_and_15_is_refused_as_ambiguous_in_both_orders(cds: TestClient, ehr: _Ehr) -> None:
    """Attack: eGFR 45 and 15 at the very same instant (one written with +09:00, one in UTC).

    Now: both orders answer 412 'ambiguous_data' naming the feature and both resources, never the values."""
    # Prepare
    a = _obs("o-a", EGFR, 45.0, U, f"{AS_OF}T10:00:00+09:00")
    b = _obs("o-b", EGFR, 15.0, U, "2024-03-01T01:00:00Z")
    # Execute
    responses = [_call(cds, ehr, _hook(order)) for order in ([a, b], [b, a])]
    # Assert
    for response in responses:
        assert response.status_code == 412, response.text
        body = response.json()
        assert body["error"] == "ambiguous_data"
        assert body["ambiguous"] == [{"feature": "egfr", "resources": ["Observation/o-a", "Observation/o-b"]}]
        assert "45" not in body["message"] and "15" not in body["message"]


def test_a_date_without_time_beside_a_timed_value_is_ambiguous(cds: TestClient, ehr: _Ehr) -> None:
    """Attack (variant): one eGFR dated the day only, another at 09:00 that day: either may be the later one."""
    a = _obs("o-a", EGFR, 45.0, U, AS_OF)
    b = _obs("o-b", EGFR, 15.0, U, f"{AS_OF}T09:00:00+09:00")
    assert [_call(cds, ehr, _hook(o)).status_code for o in ([a, b], [b, a])] == [412, 412]


def test_the_same_value_sent_twice_at_one_instant_is_not_a_conflict(cds: TestClient, ehr: _Ehr) -> None:
    """Control: a duplicate (same value, same instant) is scored normally; only differing values are refused."""
    a = _obs("o-a", EGFR, 45.0, U, f"{AS_OF}T10:00:00+09:00")
    b = _obs("o-b", EGFR, 45.0, U, f"{AS_OF}T10:00:00+09:00")
    status, (cards, _) = _answer(_call(cds, ehr, _hook([a, b])))
    assert status == 200 and len(cards) == 1


def test_a_deployed_model_failing_at_inference_answers_422_not_500(
    tmp_path: Path, ehr: _Ehr, reference: ServedModel
) -> None:
    """Attack: the deployed model returns NaN (or asks for memory the arena refuses) at inference.

    Before: a 500 from the service. Now: 422 'model_failed' naming the model, on record, and no card."""
    # Prepare
    nan = OnnxModel.load(_write(tmp_path, "nan.onnx", _nan_model()), spec=SPEC)
    served = dataclasses.replace(reference, model=nan, tree_shap=None)
    body = _hook([_obs("o-a", EGFR, 45.0, U, f"{AS_OF}T10:00:00+09:00")])
    # Execute
    for client in _service(tmp_path, ehr, served):
        response = _call(client, ehr, body)
    # Assert
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "model_failed" and "nan.onnx" in response.json()["message"]


def test_a_deployed_memory_bomb_is_refused_before_the_service_starts(tmp_path: Path, reference: ServedModel) -> None:
    """Attack: a deployment folder whose model.onnx is the memory bomb, with a card pinning its hash.

    Now: `ServedModel.load` refuses it (ModelFileError), so no service ever answers with it."""
    import shutil

    from dari.models import dump_card

    paths = reference_model_paths()
    folder = tmp_path / "deployed"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(_const_bomb(92_000))
    shutil.copyfile(paths.spec, folder / "features.json")
    card = reference.card.model_copy(update={"model_sha256": hashlib.sha256(_const_bomb(92_000)).hexdigest()})
    (folder / "model_card.json").write_text(dump_card(card), encoding="utf-8")
    with pytest.raises(ModelFileError, match="limit"):
        ServedModel.load(folder)


# ---------------------------------------------------------------------------------------------- CDS tokens


@pytest.mark.parametrize(
    ("claims", "why"),
    [  # offsets from the moment the token is minted (collection can be minutes before the test runs)
        (lambda now: {"exp": 4102444800}, "at most 300 s"),  # 2100-01-01: a token that never expires
        (lambda now: {"iat": None}, "'iat'"),  # no iat: its lifetime cannot be known
        (lambda now: {"iat": now - 3600, "exp": now + 60}, "at most 300 s"),  # backdated iat
        (lambda now: {"iat": now + 86400, "exp": now + 86500}, "future"),  # minted for tomorrow
        (lambda now: {"iat": "now", "exp": now + 60}, "iat"),  # a non-numeric iat
    ],
    ids=["exp-2100", "no-iat", "backdated-iat", "future-iat", "string-iat"],
)
def test_long_lived_or_undated_cds_tokens_are_refused(
    cds: TestClient, ehr: _Ehr, claims: Callable[[int], dict[str, Any]], why: str
) -> None:
    """Attack: a validly signed client JWT that lives for decades, or whose issue time is missing or false.

    Before: exp in 2100 was accepted, so one leaked token opened the service forever. Now: 401, with the rule."""
    # Execute
    response = cds.post(
        f"/cds-services/{SERVICE}",
        json=_hook([_obs("o-a", EGFR, 45.0, U, AS_OF)]),
        headers={"Authorization": f"Bearer {ehr.token(**claims(int(time.time())))}"},
    )
    # Assert
    assert response.status_code == 401, response.text
    assert why in response.json()["message"]


def test_the_lifetime_rule_holds_for_the_verifier_on_its_own(ehr: _Ehr) -> None:
    """Control: the verifier (used by every endpoint) refuses the 2100 token and accepts a 5-minute one."""
    verifier = JwtVerifier((IssuerConfig(iss=ISSUER, jwks_file=ehr.jwks),))
    assert verifier.verify(f"Bearer {ehr.token()}", AUD).iss == ISSUER
    with pytest.raises(JwtRejectedError, match="at most 300 s"):
        verifier.verify(f"Bearer {ehr.token(exp=4102444800)}", AUD)


# ---------------------------------------------------------------------------------------------- CDM extraction


def _egfr_feature_rows(site: Path) -> tuple[int, Any]:
    """A cohort member with a scorable eGFR, and that eGFR's measurement row (id, date, datetime, value)."""
    store = open_store(site)
    try:
        frame = extract_cohort_features(store, SPEC)
    finally:
        store.close()
    person = int(frame.person_id[frame.inputs(SPEC).scorable][0])
    with duckdb.connect(str(site / "cdm.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT m.measurement_id, m.measurement_date, m.measurement_datetime, m.value_as_number "
            "FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id "
            "WHERE m.person_id = ? AND c.concept_code = ? ORDER BY m.measurement_date, m.measurement_datetime LIMIT 1",
            [person, EGFR],
        ).fetchall()[0]
    return person, row


def _add_measurement(site: Path, source_id: int, new_id: int, value: float, shift_hours: int) -> None:
    """Copy one measurement row with a new id and value, `shift_hours` later on the same day."""
    with duckdb.connect(str(site / "cdm.duckdb")) as con:
        con.execute(
            "INSERT INTO measurement SELECT * REPLACE (? AS measurement_id, ? AS value_as_number, "
            "measurement_datetime + to_hours(CAST(? AS BIGINT)) AS measurement_datetime) "
            "FROM measurement WHERE measurement_id = ?",
            [new_id, value, shift_hours, source_id],
        )


def _frame(site: Path) -> Any:
    store = open_store(site)
    try:
        return extract_cohort_features(store, SPEC)
    finally:
        store.close()


def test_cdm_same_instant_differing_egfr_leaves_the_member_unscored_and_counted(
    cp949_site: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Attack: a second eGFR row at the same instant as a member's own, with another value and a higher id.

    Before: the highest measurement_id won (row order decided the score). Now: the member is not scored, the
    reason is 'egfr: ambiguous' and CohortCounts counts it."""
    # Prepare
    site = copy_of(cp949_site)
    person, (mid, _, _, value) = _egfr_feature_rows(site)
    _add_measurement(site, mid, 2_000_000_000, float(value) + 7.0, 0)
    # Execute
    frame = _frame(site)
    batch = frame.inputs(SPEC)
    # Assert
    k = int(np.flatnonzero(frame.person_id == person)[0])
    assert not batch.scorable[k] and batch.reasons[k] == "egfr: ambiguous"
    assert frame.counts.ambiguous_latest == {"egfr": 1}
    assert batch.reason_counts().get("egfr: ambiguous") == 1


def test_cdm_later_time_wins_whatever_the_row_ids(cp949_site: Path, copy_of: Callable[[Path], Path]) -> None:
    """Attack (variant): a later same-day eGFR with a *lower* id than the morning one.

    Before: id order decided (the morning value won). Now: the later time decides."""
    # Prepare
    site = copy_of(cp949_site)
    person, (mid, _, when, value) = _egfr_feature_rows(site)
    if when.hour > 20:
        pytest.skip("the synthetic measurement is too late in the day to add a later one on that day")
    _add_measurement(site, mid, -5, float(value) + 2.0, 2)
    # Execute
    frame = _frame(site)
    # Assert
    k = int(np.flatnonzero(frame.person_id == person)[0])
    assert frame.raw["egfr"][k] == pytest.approx(float(value) + 2.0)
    assert frame.counts.ambiguous_latest == {}
