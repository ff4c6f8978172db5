"""Documents a board decides on (the IRB approval PDF): checked, stored in the hub store with their SHA-256,
downloadable by whoever may see the application."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from dari.errors import InputError
from dari.hub.db.governance_records import ApplicationDocument
from dari.hub.governance.errors import NotFoundError

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
_UNSAFE = re.compile(r"[^\w가-힣.() -]+")


@dataclass(frozen=True)
class UploadedDocument:
    """A file as uploaded: its name (as the browser sent it) and its bytes."""

    field: str
    filename: str
    content: bytes


def checked_pdf(upload: UploadedDocument) -> ApplicationDocument:
    """The upload as a stored document, or InputError naming the field: a PDF of 1 byte to 5 MiB."""
    if not upload.content:
        raise InputError(f"{upload.field}: the file is empty or missing")
    if len(upload.content) > MAX_DOCUMENT_BYTES:
        raise InputError(
            f"{upload.field}: at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB, got {len(upload.content):,} bytes"
        )
    if not upload.content.startswith(b"%PDF-"):
        raise InputError(f"{upload.field}: must be a PDF file (it does not start with %PDF-)")
    # Only the base name, with characters a download header and a file system both accept.
    name = _UNSAFE.sub("_", upload.filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")[:150] or "document"
    if not name.lower().endswith(".pdf"):
        name += ".pdf"
    return ApplicationDocument(
        kind="irb_approval",
        filename=name,
        content_type="application/pdf",
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        content=upload.content,
    )


def document_of(session: Session, application_id: int, document_id: int) -> ApplicationDocument:
    """A document of an application with its bytes loaded."""
    query = (
        select(ApplicationDocument)
        .where(ApplicationDocument.id == document_id, ApplicationDocument.application_id == application_id)
        .options(undefer(ApplicationDocument.content))
    )
    document = session.execute(query).scalar_one_or_none()
    if document is None:
        raise NotFoundError(f"application {application_id} has no document {document_id}")
    return document
