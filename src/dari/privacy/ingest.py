"""`dari site ingest`: extract → pseudonymised → CDM in one run, with the record of how it was done."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dari.atomic import atomic_path
from dari.etl.pipeline import EtlReport, Progress, run_etl
from dari.privacy.keys import derive, load_key
from dari.privacy.policy import Policy, load_policy
from dari.privacy.pseudonymise import KeyedPseudonymiser, TextCleaner, birth_precision

REPORT_DIR = "reports"


@dataclass
class PseudonymisationRecord:
    """What was done to the identifiers and how (counts and settings only; no value, no key)."""

    site_id: str
    created_at: str
    policy: str
    key_fingerprint: str  # lets an auditor tell two keys apart without learning either
    treatments: dict[str, str] = field(default_factory=dict)
    max_shift_days: int = 0
    notes: str = "withhold"
    etl: dict[str, object] = field(default_factory=dict)
    risk_before: dict[str, object] = field(default_factory=dict)
    risk_after: dict[str, object] = field(default_factory=dict)
    k_target: int = 0
    k_review: dict[str, object] = field(default_factory=dict)  # how the target k could be reached, when it is not
    k_review_error: str | None = None


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key (HMAC of a fixed label under a derived sub-key)."""
    return hmac.new(derive(key, "fingerprint"), b"dari key fingerprint", hashlib.sha256).hexdigest()[:16]


def site_text_cleaner(key: bytes, policy: Policy) -> TextCleaner:
    """The site's note de-identifier: per person, surrogates keyed by the site key and dates moved by the
    person's own shift; dates of birth no finer than the CDM keeps them. Re-runs with the same key agree."""
    from dari.privacy.text import SurrogateMap, deidentify  # loads the Korean analyser: only when notes are cleaned

    base = SurrogateMap(derive(key, "text-surrogate"), birth_precision=birth_precision(policy))
    current: dict[tuple[str, int], SurrogateMap] = {}

    def clean(person: str, shift: int, text: str) -> str:
        surrogates = current.get((person, shift))
        if surrogates is None:  # the next person's notes begin: forget the last person's surrogates
            current.clear()
            surrogates = current[(person, shift)] = base.for_person(person, shift)
        return deidentify(text, surrogate=surrogates).text

    return clean


def run_ingest(
    site: Path,
    key_file: Path,
    *,
    policy_file: Path | None = None,
    target: str | None = None,
    text_cleaner: TextCleaner | None = None,
    progress: Progress | None = None,
) -> tuple[EtlReport, PseudonymisationRecord]:
    """Pseudonymise the site's extract under its key and policy and build the CDM; write the record."""
    key = load_key(key_file)
    policy: Policy = load_policy(policy_file)
    if text_cleaner is None and policy.notes.treatment == "deidentify":
        text_cleaner = site_text_cleaner(key, policy)
    seam = KeyedPseudonymiser(key, policy, text_cleaner)
    report = run_etl(site, target=target, pseudonymiser=seam, progress=progress)
    record = PseudonymisationRecord(
        site_id=report.site_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        policy=str(policy_file) if policy_file else "dari default policy",
        key_fingerprint=key_fingerprint(key),
        treatments={c: policy.treatment(c) for c in policy.patients},
        max_shift_days=policy.dates.max_shift_days,
        notes=policy.notes.treatment if text_cleaner is not None else "withhold",
        etl={"source_rows": report.source_rows, "cdm_rows": report.cdm_rows, "dropped_rows": report.dropped_rows},
        risk_before=seam.risk_before.model_dump() if seam.risk_before else {},
        risk_after=seam.risk_after.model_dump() if seam.risk_after else {},
        k_target=policy.risk.target_k,
        k_review=seam.k_review.model_dump() if seam.k_review else {},
        k_review_error=seam.k_review_error,
    )
    folder = site / REPORT_DIR
    with atomic_path(folder / "pseudonymisation.json") as tmp:
        tmp.write_text(json.dumps(asdict(record), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_signoff(record, folder)
    return report, record


def write_signoff(record: PseudonymisationRecord, folder: Path) -> list[Path]:
    """The steward's sign-off document, `pseudonymisation.html` and `.pdf` (verdicts, k plan, signature block)."""
    from dari.privacy.signoff import render_signoff_html, render_signoff_pdf

    out = []
    for name, data in (
        ("pseudonymisation.html", render_signoff_html(record).encode("utf-8")),
        ("pseudonymisation.pdf", render_signoff_pdf(record)),
    ):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
        out.append(folder / name)
    return out
