"""The imaging gateway at a site: a new image in the PACS is scored by the deployed model and answered in the PACS.

Flow (MONAI Deploy's Informatics Gateway pattern, on Orthanc): poll Orthanc's change feed (`GET /changes`) for
`NewInstance`; read the stored file (`GET /instances/{id}/file`, read only: the PACS's copy is never modified);
route it by modality and body part to the deployed model whose spec covers it; ask that model's deployment gate
(`dari.care.deployment_gate`: no approval, no score); preprocess and score (`dari.imaging.model`); build the DICOM
SR (`dari.imaging.sr`), the heatmap overlay (`dari.imaging.overlay`) and the FHIR Bundle
(`dari.imaging.fhir_outputs`) in memory; store SR + overlay in one STOW-RS request (rolled back by deleting what was
stored if the PACS refuses either); then write the FHIR Bundle and the worklist atomically.

Worklist priority: `OUT/worklist.json` lists every scored study with `priority` "high" when the model's score is at
or above its spec's declared threshold, "routine" otherwise, highest first; a worklist (RIS, a viewer's study list)
reads that file, or the FHIR Observation's interpretation `H`, or the SR's "Finding: Present".

Every image is in the inference audit (`dari.care.inference_audit`, in `OUT/gateway.db`): scored (200), refused
with its reason code (422), no model for it (404), deployment not approved (503), PACS write failed (502). Scored
images also add their image facts (intensity, spacing, manufacturer, score) for drift (`dari.imaging.image_drift`).
dari's own SR and overlay instances coming back through the feed are skipped without audit.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydicom import Dataset

from dari.atomic import atomic_path
from dari.care.deployment_gate import DeploymentGate
from dari.care.inference_audit import InferenceLog
from dari.imaging.dicomweb import PacsClient
from dari.imaging.fhir_outputs import fhir_bundle
from dari.imaging.image_drift import FactsStore
from dari.imaging.model import ImageScore, ImagingModel
from dari.imaging.overlay import overlay_image
from dari.imaging.pacs import OrthancServer, PacsError
from dari.imaging.preprocess import ImageRefusedError, read_dataset
from dari.imaging.sr import measurement_report

log = logging.getLogger("dari.imaging.gateway")
Status = Literal["scored", "refused", "no_model", "not_approved", "pacs_failed", "skipped"]
HTTP_STATUS = {"scored": 200, "refused": 422, "no_model": 404, "not_approved": 503, "pacs_failed": 502}
DERIVED_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.7"}  # Comprehensive SR, SC


@dataclass(frozen=True)
class GatewayResult:
    """What the gateway did with one instance."""

    orthanc_id: str
    status: Status
    reason: str
    score: float | None = None
    finding: bool | None = None
    sr_uid: str | None = None
    overlay_uid: str | None = None
    latency_ms: float = 0.0  # from reading the file to everything written
    inference_ms: float | None = None  # ONNX Runtime alone


class ImagingGateway:
    """Scores new PACS images with the deployed models and writes SR, overlay, FHIR and worklist back."""

    def __init__(
        self,
        server: OrthancServer,
        models: Sequence[ImagingModel],
        gates: Mapping[str, DeploymentGate],
        out_dir: Path,
        *,
        site_id: str,
        from_start: bool = False,
    ) -> None:
        self.server, self.models, self.gates, self.site_id = server, list(models), dict(gates), site_id
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.client = PacsClient.for_server(server)
        self.audit = InferenceLog(out_dir / "gateway.db")
        self.facts = FactsStore(out_dir / "gateway.db")
        self._state = out_dir / "gateway_state.json"
        self.last_seq = self._load_seq(from_start)
        self._worklist: dict[str, dict[str, Any]] = self._load_worklist()

    def _load_seq(self, from_start: bool) -> int:
        if self._state.is_file():
            return int(json.loads(self._state.read_text(encoding="utf-8"))["last_seq"])
        if from_start:
            return 0
        return int(self.server.rest("GET", "/changes?last")["Last"])  # only what arrives from now on

    def _load_worklist(self) -> dict[str, dict[str, Any]]:
        path = self.out_dir / "worklist.json"
        if not path.is_file():
            return {}
        return {row["study_uid"]: row for row in json.loads(path.read_text(encoding="utf-8"))["studies"]}

    def poll_once(self, limit: int = 100) -> list[GatewayResult]:
        """Handle every NewInstance change after the last one handled; the position is kept across restarts."""
        results = []
        while True:
            changes = self.server.rest("GET", f"/changes?since={self.last_seq}&limit={limit}")
            for change in changes["Changes"]:
                if change["ChangeType"] == "NewInstance":
                    results.append(self.process_instance(change["ID"]))
                self.last_seq = int(change["Seq"])
            with atomic_path(self._state) as tmp:
                tmp.write_text(json.dumps({"last_seq": self.last_seq}), encoding="utf-8")
            if changes["Done"]:
                return results

    def serve(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            try:
                for result in self.poll_once():
                    log.info("%s %s %s", result.orthanc_id, result.status, result.reason)
            except PacsError as exc:  # the PACS restarting: try again at the next poll
                log.warning("change feed: %s", exc)
            stop.wait(interval_s)

    def process_instance(self, orthanc_id: str) -> GatewayResult:
        """Score one stored instance by its Orthanc id and write the outputs; every outcome but `skipped` audited."""
        started = time.perf_counter()
        data = self.server.rest("GET", f"/instances/{orthanc_id}/file")
        try:
            ds = read_dataset(bytes(data), name=f"orthanc:{orthanc_id}")
        except ImageRefusedError as exc:
            return self._audit(orthanc_id, None, "refused", str(exc), started)
        if str(ds.get("SOPClassUID", "")) in DERIVED_SOP_CLASSES and str(ds.get("Manufacturer", "")) == "dari":
            return GatewayResult(orthanc_id, "skipped", "dari's own output")
        model = self._route(ds)
        if model is None:
            modality, part = ds.get("Modality", ""), ds.get("BodyPartExamined", "")
            return self._audit(orthanc_id, None, "no_model", f"no deployed model for {modality}/{part}", started, ds)
        gate = self.gates.get(model.sha256)
        decision = gate.check() if gate is not None else None
        if decision is None or not decision.allowed:
            why = decision.reason if decision is not None else "no deployment gate for this model"
            return self._audit(orthanc_id, model, "not_approved", f"deployment not approved: {why}", started, ds)
        try:
            result = model.score(ds, name=f"orthanc:{orthanc_id}")
        except ImageRefusedError as exc:
            return self._audit(orthanc_id, model, "refused", str(exc), started, ds)
        return self._write_outputs(orthanc_id, ds, model, result, started)

    def _route(self, ds: Dataset) -> ImagingModel | None:
        modality, part = str(ds.get("Modality", "")), str(ds.get("BodyPartExamined", ""))
        return next((m for m in self.models if m.spec.in_scope(modality, part)), None)

    def _write_outputs(
        self, orthanc_id: str, ds: Dataset, model: ImagingModel, result: ImageScore, started: float
    ) -> GatewayResult:
        sr = measurement_report(ds, result, model)
        overlay = overlay_image(ds, result, model)
        bundle = fhir_bundle(ds, result, model, sr_sop_instance_uid=str(sr.SOPInstanceUID), endpoint=self.client.url)
        wanted = {str(sr.SOPInstanceUID), str(overlay.SOPInstanceUID)}
        try:
            stored = self.client.store([sr, overlay])
        except PacsError as exc:
            self._rollback(wanted)
            return self._audit(orthanc_id, model, "pacs_failed", f"STOW-RS failed: {exc}", started, ds)
        if set(stored.stored) != wanted:
            self._rollback(set(stored.stored))
            return self._audit(orthanc_id, model, "pacs_failed", f"PACS refused {stored.failed}", started, ds)
        with atomic_path(self.out_dir / "fhir" / f"{sr.SOPInstanceUID}.json") as tmp:
            tmp.write_text(bundle.model_dump_json(indent=1, exclude_none=True), encoding="utf-8")
        self._flag(ds, model, result, str(sr.SOPInstanceUID))
        inference_id = uuid.uuid4().hex
        prepared = result.preprocessed
        self.facts.add(
            inference_id=inference_id, model_sha256=model.sha256, manufacturer=prepared.manufacturer[:64],
            pixel_spacing_mm=prepared.pixel_spacing_mm, intensity_mean=prepared.intensity_mean,
            intensity_std=prepared.intensity_std, score=result.score,
        )  # fmt: skip
        done = self._audit(orthanc_id, model, "scored", "scored", started, ds, result=result, inference_id=inference_id)
        return GatewayResult(
            orthanc_id, "scored", "scored", result.score, result.finding, str(sr.SOPInstanceUID),
            str(overlay.SOPInstanceUID), done.latency_ms, result.inference_ms,
        )  # fmt: skip

    def _rollback(self, sop_uids: set[str]) -> None:
        """Delete what this attempt stored, so the PACS holds no half of an answer."""
        for uid in sop_uids:
            try:
                for hit in self.server.rest("POST", "/tools/lookup", content=uid):
                    if hit.get("Type") == "Instance":
                        self.server.rest("DELETE", f"/instances/{hit['ID']}")
            except PacsError as exc:
                log.error("rollback of a derived instance failed: %s", exc)

    def _flag(self, ds: Dataset, model: ImagingModel, result: ImageScore, sr_uid: str) -> None:
        study = str(ds.StudyInstanceUID)
        previous = self._worklist.get(study)
        if previous is not None and previous["score"] > result.score:
            return  # a study keeps its highest-scoring image's priority
        self._worklist[study] = {
            "study_uid": study,
            "accession_number": str(ds.get("AccessionNumber", "")),
            "priority": "high" if result.finding else "routine",
            "score": round(result.score, 4),
            "threshold": model.spec.threshold,
            "model": model.name,
            "sr_sop_instance_uid": sr_uid,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        rows = sorted(self._worklist.values(), key=lambda r: (r["priority"] != "high", -r["score"]))
        with atomic_path(self.out_dir / "worklist.json") as tmp:
            tmp.write_text(json.dumps({"studies": rows}, indent=1), encoding="utf-8")

    def _audit(
        self,
        orthanc_id: str,
        model: ImagingModel | None,
        status: Status,
        reason: str,
        started: float,
        ds: Dataset | None = None,
        *,
        result: ImageScore | None = None,
        inference_id: str | None = None,
    ) -> GatewayResult:
        latency = (time.perf_counter() - started) * 1000
        inputs = None
        if result is not None:
            p = result.preprocessed
            inputs = {"intensity_mean": p.intensity_mean, "intensity_std": p.intensity_std,
                      "pixel_spacing_mm": p.pixel_spacing_mm}  # fmt: skip
        patient = str(ds.get("PatientID", "")) if ds is not None else ""
        self.audit.record(
            service_id=f"imaging-gateway:{self.site_id}",
            hook_instance=inference_id or uuid.uuid4().hex,
            model=model.name if model is not None else "(none)",
            model_sha256=model.sha256 if model is not None else "0" * 64,
            inputs=inputs,
            status=HTTP_STATUS[status],
            reason=reason,
            probability=result.score if result is not None else None,
            indicator=("priority" if result.finding else "routine") if result is not None else None,
            card_uuid=None,
            latency_ms=latency,
            patient_id=patient or None,  # kept only as a keyed hash, in the site-only table
        )
        if status != "scored":
            log.info("instance %s: %s (%s)", orthanc_id, status, reason)
        return GatewayResult(orthanc_id, status, reason, latency_ms=latency)

    def close(self) -> None:
        """Release the audit and facts databases."""
        self.audit.close()
        self.facts.close()
