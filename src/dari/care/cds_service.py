"""The CDS Hooks 2.0 service as a FastAPI app: discovery, patient-view and order-select, feedback, and the
same score as a FHIR RiskAssessment.

Status codes: 200 with `cards: []` and the reason in `extension` for a patient the model is not for (outside
its population, or a required input absent from its window: most chart openings, which an EHR must not log as
errors), 400 malformed request or FHIR (naming the resource and field), 401 untrusted JWT, 412 a prefetch key
absent (CDS Hooks: the service does not query the FHIR server) or two differing values equally the latest
(insufficient to choose from), 413 body over
the limit, 422 a value the model must not take (undeclared unit, outside the physiological range) or a model that
failed at inference or returned no probability (NaN, infinite, outside [0, 1]; `ModelOutputError`), 503 the hub
does not (or can no longer) confirm the deployment's approval. Nothing is scored on a guess: every refusal says why.

Latency: a hook call runs on the event loop without a thread hop (its work is CPU-bound and short); the JSON
response is built directly (no response-model pass); the RiskAssessment of a card is built only when read; the
deployment gate answers from its cache and asks the hub off the event loop.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from dari.care.cards import build_card, locale_from
from dari.care.deployment_gate import DeploymentGate
from dari.care.evaluation import EvaluateRequest, Evaluation, HookRequest, evaluate, evaluation_date
from dari.care.feedback import FeedbackRequest, FeedbackStore, UnknownCardError
from dari.care.fhir_inputs import FhirMapper, MappedInputs
from dari.care.fhir_parse import MalformedFhirError, MissingPrefetchError, prefetch_templates
from dari.care.fhir_time import AmbiguousDataError
from dari.care.inference_audit import InferenceLog
from dari.care.jwt_auth import JwtRejectedError, JwtVerifier
from dari.care.risk_assessment import build_risk_assessment
from dari.care.served_model import Score, ServedModel
from dari.care.service_db import SqliteJtiStore, WalCheckpointer
from dari.care.settings import CdsSettings
from dari.errors import InputError
from dari.models import FeatureValueError, ModelOutputError

HOOKS = ("patient-view", "order-select")
FHIR_JSON = "application/fhir+json"
EVALUATE_SERVICE_ID = "fhir/RiskAssessment/$evaluate"  # how $evaluate calls show in the inference audit
KEPT_ASSESSMENTS = 10_000  # recent RiskAssessments readable by id; in memory only, lost on restart
Body = TypeVar("Body", bound=BaseModel)


class HttpProblemError(Exception):
    """An error with its HTTP status and a JSON body."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": error, "message": message, **extra}


@dataclass(frozen=True)
class _Assessed:
    """What a RiskAssessment is built from, kept instead of the resource: most are never read."""

    patient_id: str
    mapped: MappedInputs
    score: Score
    occurred: datetime


@dataclass(frozen=True)
class HookService:
    """One CDS service: its id, hook and words for the discovery document."""

    id: str
    hook: str
    title: str
    description: str


def service_slug(spec_name: str) -> str:
    """`ckd_progression_1y` → `ckd-progression`: the spec's name without its horizon, in URL form."""
    return re.sub(r"_\d+[dwmy]$", "", spec_name).replace("_", "-")


def hook_services(model: ServedModel) -> tuple[HookService, ...]:
    """The services the model offers, one per hook."""
    slug, spec = service_slug(model.spec.name), model.spec
    return tuple(
        HookService(f"dari-{slug}-{hook}", hook, f"dari {spec.name} {spec.version} ({hook})", spec.description_en)
        for hook in HOOKS
    )


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpProblemError(413, "too_large", f"request body of {declared} bytes exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpProblemError(413, "too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(kind: type[Body], raw: bytes) -> Body:
    try:
        return kind.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise HttpProblemError(400, "bad_request", f"field {field}: {first['msg']}") from None


def _problem_from(exc: Exception) -> HttpProblemError:
    """The HTTP status for each error the evaluation can raise."""
    if isinstance(exc, AmbiguousDataError):
        ambiguous = [{"feature": exc.feature, "resources": exc.resources}]
        return HttpProblemError(412, "ambiguous_data", str(exc), ambiguous=ambiguous)
    if isinstance(exc, MissingPrefetchError):
        return HttpProblemError(412, "missing_prefetch", str(exc), missing=[{"prefetch": k} for k in exc.keys])
    if isinstance(exc, MalformedFhirError):
        return HttpProblemError(400, "malformed_fhir", str(exc))
    if isinstance(exc, FeatureValueError):
        return HttpProblemError(422, f"unusable_{exc.reason}", str(exc), feature=exc.feature)
    return HttpProblemError(400, "bad_request", str(exc))


def create_app(
    settings: CdsSettings,
    model: ServedModel,
    verifier: JwtVerifier | None = None,
    gate: DeploymentGate | None = None,
) -> FastAPI:
    """The service app for one model; `verifier` may be given (tests pin its clock); with a `gate`, every scoring
    request first needs the hub's current approval (503 otherwise). Without one the service is not gated."""
    tz = ZoneInfo(settings.timezone)
    mapper = FhirMapper(model.spec, tz, site_snomed=model.site_snomed)
    store = FeedbackStore(settings.database)
    inference_log = InferenceLog(settings.database)
    checkpointer = WalCheckpointer(settings.database)
    # Used token ids live in the service's file: a replay is refused by every worker process and after a restart.
    jti_store = SqliteJtiStore(settings.database) if verifier is None else None
    auth = verifier or JwtVerifier(
        settings.issuers, leeway_s=settings.jwt_leeway_s, timeout_s=settings.jwks_timeout_s, jti_store=jti_store
    )
    services = {s.id: s for s in hook_services(model)}
    templates = prefetch_templates(model.spec)
    assessments: OrderedDict[str, _Assessed] = OrderedDict()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        checkpointer.start()  # WAL checkpoints in a thread of their own, never inside a request
        try:
            yield
        finally:
            checkpointer.stop()
            if jti_store is not None:
                jti_store.close()

    app = FastAPI(title="dari CDS Hooks service", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.feedback_store = store
    app.state.inference_log = inference_log
    app.state.gate = gate

    @app.exception_handler(HttpProblemError)
    async def _problem(request: Request, exc: HttpProblemError) -> JSONResponse:
        if request.url.path.startswith("/fhir/"):
            issue = {"severity": "error", "code": _issue_code(exc.status), "diagnostics": exc.body["message"]}
            body = {"resourceType": "OperationOutcome", "issue": [issue]}
            return JSONResponse(body, status_code=exc.status, media_type=FHIR_JSON)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)

    def _authorise(authorization: str | None, audience: str) -> None:
        try:
            auth.verify(authorization, audience)
        except JwtRejectedError as exc:
            raise HttpProblemError(401, "unauthorized", str(exc)) from None

    def _service(service_id: str) -> HookService:
        if service_id not in services:
            raise HttpProblemError(404, "not_found", f"no CDS service {service_id!r}")
        return services[service_id]

    def _run(patient_id: str, prefetch: dict[str, Any] | None, at: date) -> Evaluation:
        try:
            return evaluate(model, mapper, patient_id, prefetch, at, tz, strict=settings.strict_fhir)
        except InputError as exc:
            raise _problem_from(exc) from None
        except ModelOutputError as exc:  # the model failed or gave no probability: refused, never a 500 or a card
            raise HttpProblemError(422, "model_failed", str(exc)) from None

    async def _gate() -> None:
        """Refuse (503) unless the hub approves the deployment now; the hub is asked off the event loop."""
        if gate is None:
            return
        decision = gate.current()
        if decision is None:
            decision = await run_in_threadpool(gate.check)
        if not decision.allowed:
            raise HttpProblemError(
                503,
                "deployment_not_approved",
                f"model {model.card.model_sha256[:12]} may not serve care at {gate.site_id}: {decision.reason}",
            )

    @app.get("/cds-services")
    async def discovery() -> dict[str, Any]:
        """CDS Hooks discovery: one service per hook, prefetch derived from the feature spec."""
        return {
            "services": [
                {"hook": s.hook, "id": s.id, "title": s.title, "description": s.description, "prefetch": templates}
                for s in services.values()
            ]
        }

    @app.post("/cds-services/{service_id}")
    async def call(request: Request) -> JSONResponse:
        """Score the context patient and return one card (none when outside the model's population); audited."""
        # Path and headers read directly: FastAPI's parameter resolution costs more than the rest of the routing.
        started = time.perf_counter()
        service_id = str(request.path_params["service_id"])
        authorization = request.headers.get("authorization")
        accept_language = request.headers.get("accept-language")
        trail = _trail("card")
        work = _call(service_id, request, authorization, accept_language, trail)
        return await _audited(service_id, started, work, trail)

    async def _audited(
        service_id: str, started: float, work: Awaitable[JSONResponse], trail: dict[str, Any]
    ) -> JSONResponse:
        """Await the scoring and put the call on record, whatever its outcome (a refusal and a failure too)."""
        try:
            return await work
        except HttpProblemError as exc:
            trail["status"], trail["reason"] = exc.status, str(exc.body.get("message", exc.body.get("error", "")))
            raise
        except Exception:
            trail["status"], trail["reason"] = 500, "internal error"  # a failure is on record too, never as a card
            raise
        finally:
            inference_log.record(
                service_id=service_id,
                hook_instance=trail["hook_instance"],
                model=f"{model.card.name} {model.card.version}",
                model_sha256=model.card.model_sha256,
                inputs=trail["inputs"],
                status=trail["status"],
                reason=trail["reason"],
                probability=trail["probability"],
                indicator=trail["indicator"],
                card_uuid=trail["card_uuid"],
                latency_ms=(time.perf_counter() - started) * 1000,
                patient_id=trail.get("patient_id"),
                evaluation_date=trail.get("evaluation_date"),
            )

    async def _call(
        service_id: str,
        request: Request,
        authorization: str | None,
        accept_language: str | None,
        trail: dict[str, Any],
    ) -> JSONResponse:
        service = _service(service_id)
        raw = await _body(request, settings.max_body_bytes)
        _authorise(authorization, settings.service_url(service_id))
        hook_request = _parse(HookRequest, raw)
        trail["hook_instance"] = str(hook_request.hookInstance)
        if hook_request.hook != service.hook:
            raise HttpProblemError(
                400, "bad_request", f"service {service_id} answers {service.hook}, not {hook_request.hook}"
            )
        await _gate()
        try:
            at = evaluation_date(hook_request, tz, settings.allow_as_of)
        except InputError as exc:
            raise _problem_from(exc) from None
        result = _run(hook_request.context.patientId, hook_request.prefetch, at)
        trail.update(inputs=dict(result.mapped.raw), patient_id=hook_request.context.patientId, evaluation_date=at)
        if result.score is None:
            trail["reason"] = f"not scored: {result.mapped.reason}"  # a code, never the patient's values
            return JSONResponse({"cards": [], "extension": _not_scored(result.mapped)})
        locale = locale_from(hook_request.extension, accept_language, settings.default_locale)
        card = build_card(model, result.mapped, result.score, settings, locale)
        card["extension"] = {"dari-probability": result.score.probability, "dari-inputs": dict(result.mapped.raw)}
        if result.mapped.notes:
            card["extension"]["dari-notes"] = list(result.mapped.notes)
        store.record_card(
            card["uuid"],
            service_id,
            f"{model.card.name} {model.card.version}",
            card["indicator"],
            result.score.probability,
        )
        trail.update(probability=result.score.probability, indicator=card["indicator"], card_uuid=card["uuid"])
        _keep(
            assessments,
            card["uuid"],
            _Assessed(hook_request.context.patientId, result.mapped, result.score, result.occurred),
        )
        return JSONResponse({"cards": [card]})

    @app.post("/cds-services/{service_id}/feedback")
    async def feedback(
        service_id: str, request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """CDS Hooks 2.0 feedback on cards this service issued."""
        _service(service_id)
        raw = await _body(request, settings.max_body_bytes)
        _authorise(authorization, settings.service_url(service_id))
        body = _parse(FeedbackRequest, raw)
        try:
            n = store.record_feedback(service_id, body)
        except UnknownCardError as exc:
            raise HttpProblemError(404, "unknown_card", str(exc)) from None
        except InputError as exc:
            raise HttpProblemError(400, "bad_request", str(exc)) from None
        return {"recorded": n}

    @app.post("/fhir/RiskAssessment/$evaluate")
    async def risk_evaluate(request: Request, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        """The score as a FHIR RiskAssessment, from the same prefetch a hook carries; audited like a hook call."""
        started = time.perf_counter()
        trail = _trail("risk assessment")
        return await _audited(EVALUATE_SERVICE_ID, started, _evaluate(request, authorization, trail), trail)

    async def _evaluate(request: Request, authorization: str | None, trail: dict[str, Any]) -> JSONResponse:
        raw = await _body(request, settings.max_body_bytes)
        _authorise(authorization, f"{settings.base_url}/fhir")
        body = _parse(EvaluateRequest, raw)
        if body.asOf is not None and not settings.allow_as_of:
            raise HttpProblemError(400, "bad_request", "asOf is not allowed by this service (replay only)")
        await _gate()
        at = body.asOf or datetime.now(tz).date()
        result = _run(body.patientId, body.prefetch, at)
        trail.update(inputs=dict(result.mapped.raw), patient_id=body.patientId, evaluation_date=at)
        if result.score is None:
            mapped = result.mapped
            why = f"patient not scored ({mapped.reason}): {mapped.not_applicable}"
            raise HttpProblemError(422, "not_applicable", why, **_not_scored(mapped))
        assessed = _Assessed(body.patientId, result.mapped, result.score, result.occurred)
        resource_id = str(uuid.uuid4())
        _keep(assessments, resource_id, assessed)
        trail.update(probability=result.score.probability, hook_instance=resource_id)
        return JSONResponse(_risk_json(assessed, resource_id), media_type=FHIR_JSON)

    def _risk_json(assessed: _Assessed, resource_id: str) -> dict[str, Any]:
        resource = build_risk_assessment(
            model, assessed.patient_id, assessed.mapped, assessed.score, assessed.occurred, resource_id
        )
        return resource.model_dump(mode="json", exclude_none=True)

    @app.get("/fhir/RiskAssessment/{resource_id}")
    async def risk_read(resource_id: str, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        """A RiskAssessment made in the last KEPT_ASSESSMENTS evaluations (id = the card's uuid)."""
        _authorise(authorization, f"{settings.base_url}/fhir")
        assessed = assessments.get(resource_id)
        if assessed is None:
            raise HttpProblemError(404, "not_found", f"no RiskAssessment/{resource_id} (kept in memory, recent only)")
        return JSONResponse(_risk_json(assessed, resource_id), media_type=FHIR_JSON)

    @app.get("/models/{name}/model-card")
    async def model_card(name: str) -> dict[str, Any]:
        """The served model's card (public: it holds no patient data)."""
        if name != model.card.name:
            raise HttpProblemError(404, "not_found", f"no model {name!r}")
        return model.card.model_dump(mode="json")

    return app


def _not_scored(mapped: MappedInputs) -> dict[str, Any]:
    """Why no card: the reason in words and as a code, what the EHR would have to send, what was not used."""
    extension: dict[str, Any] = {"dari-not-applicable": mapped.not_applicable, "dari-reason": mapped.reason}
    if mapped.missing:
        extension["dari-missing"] = list(mapped.missing)
    if mapped.notes:
        extension["dari-notes"] = list(mapped.notes)
    return extension


def _trail(reason: str) -> dict[str, Any]:
    """What the inference audit records of a call, filled in as the call goes (a success unless it says otherwise)."""
    return {
        "hook_instance": "",
        "inputs": None,
        "probability": None,
        "indicator": None,
        "card_uuid": None,
        "status": 200,
        "reason": reason,
    }


def _keep(store: OrderedDict[str, _Assessed], key: str, value: _Assessed) -> None:
    store[key] = value
    while len(store) > KEPT_ASSESSMENTS:
        store.popitem(last=False)


def _issue_code(status: int) -> str:
    return {
        400: "structure",
        401: "security",
        404: "not-found",
        412: "incomplete",
        413: "too-long",
        422: "business-rule",
        503: "business-rule",  # the deployment rule: no approval, no score
    }.get(status, "processing")
