"""The hub's catalog: sites and the dataset records they publish (each with its protected characterisation)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.catalog.characterise import Characterisation
from dari.catalog.dataset import DatasetRecord
from dari.errors import InputError
from dari.hub import audit
from dari.hub.db.models import Dataset, Site, User, utcnow
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.roles import Permission, allowed
from dari.hub.publication import recheck_publication


def add_site(
    session: Session, site_id: str, name_ko: str, name_en: str, *, drb_quorum: int = 1, actor: str = "system"
) -> Site:
    """Register a hospital; its DRB approves by `drb_quorum` votes."""
    if not site_id or len(site_id) > 64 or not site_id.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"site id must be 1-64 letters, digits, - or _, got {site_id!r}")
    if drb_quorum < 1:
        raise InputError(f"drb_quorum must be at least 1, got {drb_quorum}")
    if session.get(Site, site_id) is not None:
        raise ConflictError(f"site {site_id!r} exists already")
    site = Site(id=site_id, name_ko=name_ko, name_en=name_en, drb_quorum=drb_quorum)
    session.add(site)
    session.flush()
    audit.record(session, actor=actor, action="site.add", target=f"site:{site_id}", detail={"quorum": drb_quorum})
    return site


def publish_dataset(
    session: Session,
    actor: User,
    site_id: str,
    record: DatasetRecord,
    characterisation: Characterisation | None,
    quality_score: float | None,
) -> Dataset:
    """Publish or update a site's dataset record; a steward publishes only for their own site."""
    if not allowed(actor.role, Permission.PUBLISH_DATASET):
        raise ForbiddenError(f"role {actor.role} may not publish datasets")
    if actor.role == "data_steward" and actor.site_id != site_id:
        raise ForbiddenError(f"a data steward of {actor.site_id} may not publish for {site_id}")
    recheck_publication(record, characterisation)  # before any look-up: a refused release is never stored
    if session.get(Site, site_id) is None:
        raise NotFoundError(f"unknown site {site_id!r}")
    dataset = session.get(Dataset, record.identifier)
    if dataset is not None and dataset.site_id != site_id:
        raise ConflictError(f"dataset {record.identifier!r} belongs to {dataset.site_id}")
    if dataset is None:
        dataset = Dataset(id=record.identifier, site_id=site_id)
        session.add(dataset)
    dataset.title_ko = record.title.get("ko", "")
    dataset.title_en = record.title.get("en", "")
    dataset.description_ko = record.description.get("ko", "")
    dataset.description_en = record.description.get("en", "")
    dataset.record = record.model_dump(mode="json")
    dataset.characterisation = characterisation.model_dump(mode="json") if characterisation else None
    dataset.quality_score = quality_score
    dataset.published_at = utcnow()
    session.flush()
    audit.record(session, actor=actor.username, action="dataset.publish", target=f"dataset:{record.identifier}")
    return dataset


def get_dataset(session: Session, dataset_id: str) -> Dataset:
    """A dataset by id."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"unknown dataset {dataset_id!r}")
    return dataset


def list_datasets(session: Session) -> list[Dataset]:
    """Every published dataset, by site."""
    return list(session.execute(select(Dataset).order_by(Dataset.site_id, Dataset.id)).scalars())


def list_sites(session: Session) -> list[Site]:
    """Every registered site."""
    return list(session.execute(select(Site).order_by(Site.id)).scalars())


def hospital_names(dataset: Dataset) -> dict[str, str]:
    """The one name of a dataset's hospital, in Korean and English, used on every page that shows it.

    The name the site publishes in its record (`publisher`, from its CDM's cdm_source) is what the dataset page,
    the DCAT export and the search index show, so the list must show it too; where a record names no publisher
    (or only repeats the site id), the site's registered name stands in for it, per language.
    """
    publisher = (dataset.record or {}).get("publisher") or {}
    site = dataset.site
    registered = {"ko": site.name_ko if site else "", "en": site.name_en if site else ""}
    out: dict[str, str] = {}
    for lang in ("ko", "en"):
        name = str(publisher.get(lang) or "").strip()
        out[lang] = name if name and name != dataset.site_id else registered[lang] or dataset.site_id
    return out


def hospital_name(dataset: Dataset, lang: str) -> str:
    """The dataset's hospital name in one language (English falls back to Korean and back)."""
    names = hospital_names(dataset)
    return names["en"] if lang == "en" and names["en"] else names["ko"] or names["en"]
