"""DIMSE with a PACS that speaks only the classic DICOM network protocol: C-ECHO, C-STORE, C-FIND, C-MOVE as SCU,
and a C-STORE SCP that dari runs (where a PACS sends studies to dari, by a routing rule or a C-MOVE).

Stable names: `DimseNode(aet, host, port)` (the remote), `echo`, `store`, `find`, `move`; `StoreScp(folder, aet,
port)` as a context manager, writing each received instance atomically to `folder/<SOPInstanceUID>.dcm` and
calling `on_store` if given. Built on pynetdicom.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # pynetdicom builds these names at import
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from dari.atomic import atomic_path
from dari.imaging.pacs import LOOPBACK, DicomPeer, PacsError, free_port

DARI_AET = "DARI"
SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)
_UID = re.compile(r"^[0-9.]{1,64}$")


# A remote DICOM application entity (AE title, host, port): the same record Orthanc's configuration lists peers by.
DimseNode = DicomPeer


def _associate(node: DimseNode, calling_aet: str, contexts: Iterable[tuple[str, Sequence[str]]]) -> Association:
    """An established association with `node`, or a PacsError naming it."""
    ae = AE(ae_title=calling_aet)
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, list(syntaxes))
    assoc = ae.associate(node.host, node.port, ae_title=node.aet)
    if not assoc.is_established:
        raise PacsError(f"DICOM association with {node.aet}@{node.host}:{node.port} refused or failed")
    return assoc


def echo(node: DimseNode, calling_aet: str = DARI_AET) -> int:
    """C-ECHO: the status the remote answered (0 is success)."""
    assoc = _associate(node, calling_aet, [(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])])
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else -1
    finally:
        assoc.release()


def store(node: DimseNode, datasets: Sequence[Dataset], calling_aet: str = DARI_AET) -> dict[str, int]:
    """C-STORE each dataset in its own transfer syntax; SOP Instance UID → the status the remote answered."""
    wanted: dict[str, set[str]] = {}
    for ds in datasets:
        syntax = str(ds.file_meta.TransferSyntaxUID)
        wanted.setdefault(str(ds.SOPClassUID), {ExplicitVRLittleEndian}).add(syntax)
    if len(wanted) > 128:
        raise PacsError(f"{len(wanted)} SOP classes in one C-STORE association: at most 128 can be negotiated")
    assoc = _associate(node, calling_aet, [(k, sorted(v)) for k, v in wanted.items()])
    statuses: dict[str, int] = {}
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses[str(ds.SOPInstanceUID)] = int(status.Status) if "Status" in status else -1
    finally:
        assoc.release()
    return statuses


def find(node: DimseNode, query: Dataset, calling_aet: str = DARI_AET) -> list[Dataset]:
    """C-FIND (study root): every matching identifier; `query` sets QueryRetrieveLevel and the keys to return."""
    assoc = _associate(node, calling_aet, [(StudyRootQueryRetrieveInformationModelFind, [ExplicitVRLittleEndian])])
    found: list[Dataset] = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            code = int(status.Status) if "Status" in status else -1
            if code in PENDING and identifier is not None:
                found.append(identifier)
            elif code not in (SUCCESS, *PENDING):
                raise PacsError(f"C-FIND at {node.aet} failed with status 0x{code:04X}")
    finally:
        assoc.release()
    return found


def move(node: DimseNode, study_uid: str, destination_aet: str, calling_aet: str = DARI_AET) -> int:
    """C-MOVE (study root) one study to `destination_aet`; the number of sub-operations that completed."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    assoc = _associate(node, calling_aet, [(StudyRootQueryRetrieveInformationModelMove, [ExplicitVRLittleEndian])])
    completed = 0
    try:
        for status, _ in assoc.send_c_move(query, destination_aet, StudyRootQueryRetrieveInformationModelMove):
            code = int(status.Status) if "Status" in status else -1
            if code not in (SUCCESS, *PENDING):
                raise PacsError(f"C-MOVE of a study from {node.aet} to {destination_aet} failed: status 0x{code:04X}")
            completed = int(status.get("NumberOfCompletedSuboperations", completed))
    finally:
        assoc.release()
    return completed


@dataclass
class StoreScp:
    """dari's C-STORE SCP on loopback: accepts every storage SOP class in every transfer syntax pynetdicom knows."""

    folder: Path
    aet: str = DARI_AET
    port: int = 0
    host: str = LOOPBACK
    on_store: Callable[[Dataset], None] | None = None
    received: list[str] = field(default_factory=list)
    _server: ThreadedAssociationServer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.port = self.port or free_port()

    @property
    def node(self) -> DimseNode:
        """How a PACS reaches this SCP."""
        return DimseNode(self.aet, self.host, self.port)

    def _handle_store(self, event: Event) -> int:
        """Write one received instance atomically (named by its SOP Instance UID); 0xC000 if it cannot be read."""
        try:
            ds: Dataset = event.dataset
            ds.file_meta = event.file_meta
            sop_uid = str(ds.SOPInstanceUID)
        except Exception:  # a malformed dataset is refused, never written
            return 0xC000
        if not _UID.match(sop_uid):
            return 0xC000  # the UID names the file: nothing but digits and dots
        with atomic_path(self.folder / f"{sop_uid}.dcm") as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        self.received.append(sop_uid)
        if self.on_store is not None:
            self.on_store(ds)
        return SUCCESS

    def start(self) -> StoreScp:
        """Listen (in a background thread) until `stop()`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=self.aet)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        handlers: list[Any] = [(evt.EVT_C_STORE, self._handle_store)]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        """Stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> StoreScp:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
