"""DICOMweb with a PACS as a hospital system talks to it: QIDO-RS (search), WADO-RS (retrieve), STOW-RS (store).

Stable names: `PacsClient(url, username, password)` or `PacsClient.for_server(orthanc)`; `store(datasets)` →
`StoreResult`; `search_studies(filters)`, `search_instances(study_uid)` → `InstanceRef` rows; `retrieve(ref)` and
`retrieve_study(study_uid)` → pydicom datasets in the transfer syntax the PACS holds (no transcoding asked for).
Built on `dicomweb-client` (the maintained DICOMweb client, the one the DICOMweb standard's authors use).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from pydicom.dataset import Dataset

from dari.imaging.pacs import PacsError

if TYPE_CHECKING:
    from dari.imaging.pacs import OrthancServer

# Ask for each instance as stored: "*" lets the origin server answer in the transfer syntax it holds.
AS_STORED = (("application/dicom", "*"),)
STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "StudyDate", "ModalitiesInStudy", "AccessionNumber")
INSTANCE_FIELDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality", "StudyDate")


@dataclass(frozen=True)
class InstanceRef:
    """Where one instance sits in the PACS (the three UIDs WADO-RS needs) and what it is."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str = ""
    modality: str = ""
    study_date: str = ""


@dataclass(frozen=True)
class StoreResult:
    """What STOW-RS stored and what it refused (SOP Instance UID → DICOM failure reason code)."""

    stored: tuple[str, ...]
    failed: dict[str, int] = field(default_factory=dict)


def _value(row: dict[str, Any], keyword: str) -> str:
    """The first value of `keyword` in a DICOM JSON row, '' when absent."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    element = row.get(f"{tag:08X}") if tag is not None else None
    values = (element or {}).get("Value") or [""]
    return str(values[0])


class PacsClient:
    """A DICOMweb client of one PACS (Orthanc here, any DICOMweb origin server in a hospital)."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        session = create_session_from_user_pass(username, password) if username and password else None
        self.url, self._username, self._password = url, username, password
        self._client = DICOMwebClient(url, session=session, timeout=60)

    def clone(self) -> PacsClient:
        """A client of the same PACS with its own HTTP session (one per thread)."""
        return PacsClient(self.url, self._username, self._password)

    @classmethod
    def for_server(cls, server: OrthancServer) -> PacsClient:
        """A client of a running `OrthancServer`, with its credentials."""
        return cls(server.dicomweb_url, server.username, server.password)

    def store(self, datasets: Sequence[Dataset]) -> StoreResult:
        """STOW-RS: store the datasets in one request; which were stored and which refused, with the reason code."""
        if not datasets:
            return StoreResult(stored=())
        try:
            response = self._client.store_instances(list(datasets))
        except Exception as exc:  # dicomweb-client raises requests' HTTPError; name the PACS, not the payload
            raise PacsError(f"STOW-RS to {self.url} failed: {type(exc).__name__}: {exc}") from exc
        stored = tuple(str(item.ReferencedSOPInstanceUID) for item in response.get("ReferencedSOPSequence", []))
        failed = {
            str(item.ReferencedSOPInstanceUID): int(item.get("FailureReason", 0))
            for item in response.get("FailedSOPSequence", [])
        }
        return StoreResult(stored=stored, failed=failed)

    def search_studies(
        self, filters: dict[str, Any] | None = None, fields: Iterable[str] = STUDY_FIELDS
    ) -> list[dict[str, str]]:
        """QIDO-RS at study level: one row per study, keyed by the field keywords asked for."""
        wanted = tuple(fields)
        rows = self._client.search_for_studies(search_filters=filters or {}, fields=wanted, get_remaining=True)
        return [{keyword: _value(row, keyword) for keyword in wanted} for row in rows]

    def search_instances(
        self, study_uid: str | None = None, filters: dict[str, Any] | None = None
    ) -> list[InstanceRef]:
        """QIDO-RS at instance level, within one study or across the PACS."""
        rows = self._client.search_for_instances(
            study_instance_uid=study_uid, search_filters=filters or {}, fields=INSTANCE_FIELDS, get_remaining=True
        )
        return [
            InstanceRef(
                study_uid=_value(row, "StudyInstanceUID") or (study_uid or ""),
                series_uid=_value(row, "SeriesInstanceUID"),
                sop_uid=_value(row, "SOPInstanceUID"),
                sop_class_uid=_value(row, "SOPClassUID"),
                modality=_value(row, "Modality"),
                study_date=_value(row, "StudyDate"),
            )
            for row in rows
        ]

    def retrieve(self, ref: InstanceRef) -> Dataset:
        """WADO-RS: one instance, in the transfer syntax the PACS holds it in."""
        dataset: Dataset = self._client.retrieve_instance(
            ref.study_uid, ref.series_uid, ref.sop_uid, media_types=AS_STORED
        )
        return dataset

    def retrieve_study(self, study_uid: str) -> list[Dataset]:
        """WADO-RS: every instance of one study, as stored."""
        return list(self._client.retrieve_study(study_uid, media_types=AS_STORED))
