"""Opening a document: the bytes of a DocumentReference's attachment, with the right type
and file name.

The content comes from the attachment's inline ``data``, or from a ``Binary`` on this
server (``Binary/{id}``, ``{fhir base}/Binary/{id}`` or ``/fhir/Binary/{id}``). The
DocumentReference is read by id and checked by the one door first, so another patient's
document, or its Binary, is a not-found page and never its content.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fhir_server import audit
from fhir_server.access import check_resource
from fhir_server.binary_context import binary_id, binary_serves
from fhir_server.portal.viewing import Viewing
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.services import Services

# Shown in the browser; everything else downloads (HTML and SVG could run script).
INLINE = {"application/pdf", "text/plain", "text/csv", "image/png", "image/jpeg", "image/gif", "image/webp"}
GONE = "This document's file is no longer available. Ask the practice for a copy."
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


class NoContent(Exception):
    """The document exists and is the patient's, but has no content this server holds."""


@dataclass(frozen=True)
class Content:
    body: bytes
    content_type: str
    filename: str

    @property
    def inline(self) -> bool:
        return self.content_type in INLINE

    def headers(self, *, download: bool = False) -> dict[str, str]:
        ascii_name = self.filename.encode("ascii", "replace").decode().replace("?", "_")
        disposition = "inline" if self.inline and not download else "attachment"
        media = f"{self.content_type}; charset=utf-8" if self.content_type.startswith("text/") else self.content_type
        names = f"filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename)}"
        return {"Content-Type": media, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Content-Disposition": f"{disposition}; {names}",
                # Only the portal's own document page may embed it.
                "X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "frame-ancestors 'self'"}


def not_found(doc_id: str) -> FhirError:
    return FhirError(404, "not-found", "We could not find that document in this record.")


def file_name(title: str | None, doc_id: str, content_type: str) -> str:
    name = _UNSAFE.sub("_", (title or "").strip()).strip(" ._")[:120] or f"document-{doc_id}"
    extension = mimetypes.guess_extension(content_type) or ""
    if extension == ".txt" or "." not in name[-6:]:
        return name if name.lower().endswith(extension) else f"{name}{extension}"
    return name


def _decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise NoContent("The document's content is damaged.") from None


async def read_document(services: Services, view: Viewing, doc_id: str) -> dict[str, Any]:
    """The DocumentReference, if it is in the patient in view's record; else a not-found error."""
    try:
        version = await services.store.read("DocumentReference", doc_id)
    except FhirError:
        raise not_found(doc_id) from None
    resource = version.resource or {}
    compartments = patient_compartments(resource, services.settings.fhir_base)
    try:
        check_resource(view.caller, "DocumentReference", doc_id, compartments, "r")
    except FhirError:
        raise not_found(doc_id) from None
    if view.patient_id not in compartments:  # a delegate sees only the patient in view
        raise not_found(doc_id)
    return resource


async def content_of(services: Services, view: Viewing, resource: dict[str, Any]) -> Content:
    doc_id = str(resource.get("id"))
    attachments = [c.get("attachment", {}) for c in resource.get("content", [])]
    attachment = next((a for a in attachments if a.get("data")), None) or \
        next((a for a in attachments if a.get("url")), None)
    if attachment is None:
        raise NoContent("This document has no file attached.")
    content_type = str(attachment.get("contentType") or "").split(";")[0].strip().lower()
    if attachment.get("data"):
        body = _decode(str(attachment["data"]))
    else:
        target = binary_id(str(attachment["url"]), services.settings.fhir_base)
        if target is None:
            raise NoContent("This document is kept outside the portal. Ask the practice for a copy.")
        try:
            binary = (await services.store.read("Binary", target)).resource or {}
            # Served only if it names the patient in view or this (already checked) document.
            if not binary_serves(binary, view.patient_id, doc_id, services.settings.fhir_base):
                raise NoContent(GONE)
            owners = patient_compartments(binary, services.settings.fhir_base)
            if owners:
                check_resource(view.caller, "Binary", target, owners, "r")
        except FhirError:
            raise NoContent(GONE) from None
        body = _decode(str(binary.get("data") or ""))
        content_type = content_type or str(binary.get("contentType") or "").split(";")[0].strip().lower()
    content_type = content_type or "application/octet-stream"
    return Content(body, content_type, file_name(attachment.get("title"), doc_id, content_type))


async def open_document(services: Services, view: Viewing, doc_id: str) -> tuple[dict[str, Any], Content]:
    """A document the viewer may read, with its content, the read audited: the one way the
    portal's document page, its file and the console open a document (raises NoContent)."""
    resource = await read_document(services, view, doc_id)
    content = await content_of(services, view, resource)
    await audit.record(services.store, view.caller, "read", patients=[view.patient_id],
                       entities=[f"DocumentReference/{doc_id}"])
    return resource, content
