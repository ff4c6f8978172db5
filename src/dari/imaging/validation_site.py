"""Site side of a federated imaging validation: the site guard, the site's own PACS, de-identification, scoring,
and the same protected statistics the tabular job releases.

Once `dari.federation.guard.SiteGuard` admits the job (grant, ticket, site rules, audit), the site asks its own
PACS (QIDO-RS, instance level, per modality in scope and the study-date range), retrieves each image (WADO-RS, as
stored), checks it (the scorer's refusals: non-image SOP class, multi-frame, photometric, no decoder for the
transfer syntax, missing pixel spacing, modality), de-identifies it at the site (`site_deid`), scores it, and
keeps one image per patient (the earliest study; the unit is the patient, as the release ledger needs). Each
refusal is written to the site's audit with its reason and the instance's UID (site-local); only the count of
unscored images leaves, protected. The released record is the tabular job's `SiteReport`: `site_metrics`,
`site_sufficient_statistics` and `evaluate_subgroups` (manufacturer, pixel spacing) under the site-enforced rules
and the release ledger. The PACS is only read.
"""

from __future__ import annotations

import csv
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from dari.errors import InputError
from dari.federation.flower.jobs import SiteReport
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import params_sha256
from dari.imaging.dicomweb import InstanceRef, PacsClient
from dari.imaging.pacs import OrthancServer
from dari.imaging.scoring import ImageRefusedError, ImageScorer
from dari.imaging.site_deid import BurnedInTextError, deidentify_image
from dari.imaging.validation_job import IMAGING_ANALYSIS_TYPE, ImagingJobRequest, ImagingScope
from dari.privacy.dicom import keyed
from dari.privacy.dicom.deid import patient_identity
from dari.privacy.dicom.keyfile import read_key_file
from dari.validation import UndefinedMetricWarning, evaluate_subgroups, site_metrics, site_sufficient_statistics

PACS_DIR = "pacs"  # site_folder/pacs/: the site's Orthanc (configuration with its credentials, mode 0600)
DEID_KEY = Path("keys") / "imaging-deid.key"  # the site's de-identification key (never leaves the site)
REFERENCE = Path("imaging") / "truth.csv"
PREFETCH_THREADS = 4
PREFETCH_CHUNK = 32  # the reference standard by SOP Instance UID (synthetic: ground truth)


@dataclass
class ScoredImages:
    """A site's scored images, one per patient; row-level, so it never leaves the site."""

    person_id: npt.NDArray[np.int64]
    y: npt.NDArray[np.bool_]
    p: npt.NDArray[np.float64]
    groups: dict[str, npt.NDArray[np.str_]]
    in_scope: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unscored_id: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


def site_pacs(folder: Path) -> PacsClient:
    """A DICOMweb client of the site's own PACS, from its configuration under folder/pacs/."""
    return PacsClient.for_server(OrthancServer.from_config(folder / PACS_DIR))


def reference_labels(folder: Path) -> dict[str, bool]:
    """The reference standard: SOP Instance UID → finding present (imaging/truth.csv's `lesion`)."""
    path = folder / REFERENCE
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return {row["sop_uid"]: row["lesion"] == "1" for row in csv.DictReader(handle)}
    except (OSError, KeyError) as exc:
        raise InputError(f"cannot read the reference standard: {type(exc).__name__}", file=str(path)) from None


def in_scope(pacs: PacsClient, scope: ImagingScope) -> list[InstanceRef]:
    """QIDO-RS: the instances of each modality in scope within the study-date range, earliest study first."""
    refs: dict[str, InstanceRef] = {}
    for modality in scope.modalities:
        filters = {"Modality": modality, "StudyDate": f"{scope.study_date_from}-{scope.study_date_to}"}
        refs.update((r.sop_uid, r) for r in pacs.search_instances(filters=filters))
    return sorted(refs.values(), key=lambda r: (r.study_date, r.study_uid, r.sop_uid))


def _person_id(pseudonym: str) -> int:
    """An integer id for the release ledger from the keyed pseudonym (DARI-<hex>): 60 bits of it."""
    return int(pseudonym.rsplit("-", 1)[-1][:15], 16)


def _spacing_label(ds: Any) -> str:
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    return f"{float(spacing[0]):.2f} mm" if spacing else "unknown"


def _prefetched(
    pacs: PacsClient, refs: list[InstanceRef], threads: int = PREFETCH_THREADS
) -> Iterator[tuple[InstanceRef, Dataset | Exception]]:
    """Each instance with its WADO-RS answer (or the error), in order; a few threads fetch ahead while the caller
    works (retrieval waits mostly on the PACS: measured 58 of 147 ms per image serially)."""
    local = threading.local()

    def fetch(ref: InstanceRef) -> Dataset | Exception:
        if not hasattr(local, "client"):
            local.client = pacs.clone()
        try:
            dataset: Dataset = local.client.retrieve(ref)
            return dataset
        except Exception as exc:  # handed to the caller, which refuses the image with the reason
            return exc

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wado") as pool:
        for start in range(0, len(refs), PREFETCH_CHUNK):  # bounded: at most a chunk of images in memory
            chunk = refs[start : start + PREFETCH_CHUNK]
            yield from zip(chunk, pool.map(fetch, chunk), strict=True)


def score_pacs(
    pacs: PacsClient,
    scope: ImagingScope,
    scorer: ImageScorer,
    key: bytes,
    labels: dict[str, bool],
    audit: SiteAuditLog | None = None,
    job_id: str = "",
) -> ScoredImages:
    """Retrieve, check, de-identify and score every image in scope; refusals audited with their reason."""
    ids: list[int] = []
    y: list[bool] = []
    p: list[float] = []
    manufacturer: list[str] = []
    spacing: list[str] = []
    refused: Counter[str] = Counter()
    unscored: list[int] = []
    refs = in_scope(pacs, scope)

    def refuse(ref: InstanceRef, reason: str) -> None:
        refused[reason] += 1
        if audit is not None:
            audit.record("imaging.image.refused", "deny", job=job_id, sop_instance=ref.sop_uid, reason=reason)

    seen: set[int] = set()
    for ref, fetched in _prefetched(pacs, refs):
        if isinstance(fetched, Exception):  # a file the PACS holds but cannot serve: refused, the job goes on
            refuse(ref, f"retrieve_failed:{type(fetched).__name__}")
            continue
        ds = fetched
        person = _person_id(keyed.pseudonym(key, patient_identity(ds)[0]))  # as the de-identifier derives it
        try:
            if ref.sop_uid not in labels:
                raise ImageRefusedError("no_reference_standard", "the image has no reference-standard label")
            scorer.check(ds)
            if str(ds.get("BodyPartExamined", "")).upper() != scope.body_part:
                raise ImageRefusedError("out_of_scope", f"body part {ds.get('BodyPartExamined', 'missing')}")
            if person in seen:
                raise ImageRefusedError("repeat_patient", "a later study of a patient already in the validation")
            image = deidentify_image(ds, key)
            score = scorer.score(image.dataset)
        except (ImageRefusedError, BurnedInTextError) as exc:
            refuse(ref, exc.reason if isinstance(exc, ImageRefusedError) else "burned_in_text")
            unscored.append(person)
            continue
        seen.add(person)
        ids.append(person)
        y.append(labels[ref.sop_uid])
        p.append(score)
        manufacturer.append(str(image.dataset.get("Manufacturer", "") or "unknown"))
        spacing.append(_spacing_label(image.dataset))
    # a patient counts once among the unscored, and not at all when another of their images was scored
    unscored_ids = np.setdiff1d(np.unique(np.asarray(unscored, dtype=np.int64)), np.asarray(ids, dtype=np.int64))
    return ScoredImages(
        person_id=np.asarray(ids, dtype=np.int64),
        y=np.asarray(y, dtype=bool),
        p=np.asarray(p, dtype=np.float64),
        groups={"manufacturer": np.asarray(manufacturer, dtype=str), "pixel_spacing": np.asarray(spacing, dtype=str)},
        in_scope=len(refs),
        refused=refused,
        unscored_id=unscored_ids,
    )


def job_claim(job: ImagingJobRequest) -> JobClaim:
    """What an imaging job claims, for the site guard (its parameters' hash computed here)."""
    return JobClaim(
        job_id=job.job_id,
        requester=job.requester,
        analysis_type=IMAGING_ANALYSIS_TYPE,
        datasets=job.datasets,
        model_sha256=job.model_sha256,
        params_sha256=params_sha256(job),
        tickets=job.tickets,
        expected_grants=job.expected_grants,
        audit_checkpoint=job.audit_checkpoint,
    )


def _validate(job: ImagingJobRequest, scorer: ImageScorer, admission: Admission) -> tuple[SiteReport, ScoredImages]:
    """The job's work once admitted: model identity, the PACS, the statistics under the site-enforced rules."""
    if scorer.sha256 != job.model_sha256:
        raise InputError("the model at this site is not the one the job names (SHA-256 differs)")
    folder = Path(admission.site_folder)
    audit = SiteAuditLog(folder)
    scored = score_pacs(
        site_pacs(folder), job.scope, scorer, read_key_file(folder / DEID_KEY), reference_labels(folder), audit,
        job.job_id,
    )  # fmt: skip
    audit.record("imaging.images", "allow", job=job.job_id, in_scope=scored.in_scope, refused=dict(scored.refused))
    rules, spec, ids = admission.rules, job.validation, scored.person_id
    ledger = admission.open_ledger()
    try:
        with warnings.catch_warnings(), ledger.release() as release:
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            metrics = site_metrics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
            stats = site_sufficient_statistics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
            groups: dict[str, Any] = {g: scored.groups[g] for g in job.subgroups}
            subgroups = evaluate_subgroups(scored.y, scored.p, groups, spec, rules, ledger=ledger, person_ids=ids)
            cohort = release.count("imaging:images", ids)
            unscored = release.count("imaging:unscored", scored.unscored_id)
    finally:
        ledger.close()
    report = SiteReport(
        site_id=admission.site_id,
        dataset_id=admission.dataset_id,
        grant_id=admission.grant_id,
        status="ok",
        model_sha256=scorer.sha256,
        cohort=cohort,
        unscored=unscored,
        metrics=metrics,
        statistics=stats,
        subgroups=subgroups,
    )
    return report, scored


def admit_and_validate_images(
    job: ImagingJobRequest, scorer: ImageScorer, site: SiteBinding, checker: Any
) -> tuple[SiteReport, ScoredImages | None, Admission | None]:
    """The site's report, its scored images (kept at the site for the Newton rounds) and its admission."""
    outcome = SiteGuard(site, checker).run(job_claim(job), job.disclosure, lambda a: _validate(job, scorer, a))
    if outcome.result is not None:
        report, scored = outcome.result
        return report, scored, outcome.admission
    failed = SiteReport(
        site_id=site.site_id, dataset_id=outcome.dataset_id, status=outcome.status, reason=outcome.reason,
        grant_id=outcome.grant_id,
    )  # fmt: skip
    return failed, None, None
