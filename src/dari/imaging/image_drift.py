"""Image-level drift at the site: intensity statistics, pixel spacing, manufacturer mix and score, per image scored.

The gateway writes one row per scored image into `imaging_image_facts`, a site-only table in the same SQLite file
as the inference audit (`dari.care.inference_audit`), joined to the audit row by `inference_id`; it holds no
identifier. Drift is the existing monitoring's (`dari.monitoring.drift`): PSI and Kolmogorov–Smirnov of each
numeric fact against a reference built from the validation images, and for the manufacturer mix a PSI over the
manufacturers' shares (Σ (a − e) · ln(a / e), shares floored at 1e-4; a manufacturer never seen at validation
counts as its own category), with the same thresholds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Float, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dari.monitoring.drift import DriftResult, DriftThresholds, ReferenceDistribution, drift, reference_distribution

NUMERIC = ("intensity_mean", "intensity_std", "pixel_spacing_mm", "score")
_FLOOR = 1e-4


class _Base(DeclarativeBase):
    pass


class ImageFacts(_Base):
    """What monitoring watches of one scored image (site-only, no identifier)."""

    __tablename__ = "imaging_image_facts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inference_id: Mapped[str] = mapped_column(String(64), index=True)  # the audit row's hook_instance
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_sha256: Mapped[str] = mapped_column(String(64))
    manufacturer: Mapped[str] = mapped_column(String(64))
    pixel_spacing_mm: Mapped[float] = mapped_column(Float)
    intensity_mean: Mapped[float] = mapped_column(Float)
    intensity_std: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)


class FactsStore:
    """The site-only table of image facts in the gateway's database file."""

    def __init__(self, database: Path) -> None:
        self.engine = create_engine(f"sqlite:///{database.resolve()}")
        _Base.metadata.create_all(self.engine)

    def add(self, **values: object) -> None:
        """Append one image's facts."""
        self.add_many([values])

    def add_many(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append several images' facts in one transaction (a backfill, a replay)."""
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            s.add_all([ImageFacts(at=now, **row) for row in rows])

    def rows(self, model_sha256: str | None = None) -> list[ImageFacts]:
        """Every row (of one model when given), oldest first."""
        query = select(ImageFacts).order_by(ImageFacts.id)
        if model_sha256 is not None:
            query = query.where(ImageFacts.model_sha256 == model_sha256)
        with Session(self.engine) as s:
            return list(s.execute(query).scalars())

    def close(self) -> None:
        """Release the database."""
        self.engine.dispose()


class ImageReference(BaseModel):
    """The validation images' distributions: one per numeric fact, and the manufacturers' shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    numeric: dict[str, ReferenceDistribution]
    manufacturers: dict[str, float]
    n: int


def image_reference(rows: Sequence[ImageFacts]) -> ImageReference:
    """A reference from the facts of validation images (e.g. the gateway run over the validation set)."""
    numeric = {name: reference_distribution(name, [float(getattr(r, name)) for r in rows]) for name in NUMERIC}
    counts = Counter(r.manufacturer for r in rows)
    return ImageReference(numeric=numeric, manufacturers={m: c / len(rows) for m, c in counts.items()}, n=len(rows))


def manufacturer_drift(
    reference: ImageReference, current: Sequence[str], thresholds: DriftThresholds | None = None
) -> DriftResult:
    """PSI of the manufacturer mix; drifted above the PSI threshold."""
    t = thresholds or DriftThresholds()
    if len(current) < t.min_current:
        return DriftResult(
            name="manufacturer", n_reference=reference.n, n_current=len(current), psi=None, ks_d=None,
            ks_p=None, drifted=False, verdict=f"too few values ({len(current)} < {t.min_current})",
        )  # fmt: skip
    counts = Counter(current)
    names = set(reference.manufacturers) | set(counts)
    psi = 0.0
    for name in names:
        e = max(reference.manufacturers.get(name, 0.0), _FLOOR)
        a = max(counts.get(name, 0) / len(current), _FLOOR)
        psi += (a - e) * math.log(a / e)
    drifted = psi > t.psi
    verdict = "major shift" if drifted else ("moderate shift" if psi > 0.1 else "stable")
    return DriftResult(
        name="manufacturer", n_reference=reference.n, n_current=len(current), psi=psi, ks_d=None, ks_p=None,
        drifted=drifted, verdict=verdict,
    )  # fmt: skip


def image_drift(
    reference: ImageReference, rows: Sequence[ImageFacts], thresholds: DriftThresholds | None = None
) -> list[DriftResult]:
    """Drift of every numeric fact and of the manufacturer mix over the current rows."""
    results = [
        drift(ref, [float(getattr(r, name)) for r in rows], thresholds) for name, ref in reference.numeric.items()
    ]
    results.append(manufacturer_drift(reference, [r.manufacturer for r in rows], thresholds))
    return results
