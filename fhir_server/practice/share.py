"""Sharing a document with a patient: a PDF or a text note becomes a Binary (its bytes, with the
patient as its security context) and a DocumentReference that points at it, both written under
the staff member's one-door caller. The patient's Documents list shows it at once."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_server.access import check_write
from fhir_server.portal.viewing import Viewing
from fhir_server.practice.session import Console
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.validation import validate
from fhir_server.services import Services

LOINC = "http://loinc.org"
#: The short list the form offers (LOINC document types a small oncology practice shares).
TYPES = {
    "11506-3": "Progress note",
    "11488-4": "Consult note",
    "18842-5": "Discharge summary",
    "11502-2": "Laboratory report",
    "18748-4": "Diagnostic imaging report",
    "69730-0": "Instructions",
}
MAX_BYTES = 10 * 1024 * 1024
CATEGORY = {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                        "code": "clinical-note", "display": "Clinical Note"}]}


@dataclass(frozen=True)
class Upload:
    title: str
    type_code: str
    when: str  # YYYY-MM-DD
    content_type: str
    body: bytes


def problems(*, title: str, type_code: str, when: str, filename: str, body: bytes, note: str,
             today: date) -> tuple[list[str], Upload | None]:
    """What is wrong with the form (empty list: the upload to store)."""
    found: list[str] = []
    if not title.strip():
        found.append("Give the document a title the patient will recognise.")
    elif len(title.strip()) > 120:
        found.append("The title can be at most 120 characters.")
    if type_code not in TYPES:
        found.append("Choose the type of document.")
    try:
        day = date.fromisoformat(when)
        if day > today:
            found.append("The document's date cannot be in the future.")
    except ValueError:
        found.append("Choose the document's date.")
    content_type = ""
    if body and note.strip():
        found.append("Attach a file or write a note, not both.")
    elif body:
        if len(body) > MAX_BYTES:
            found.append("The file is larger than 10 MB.")
        elif body.startswith(b"%PDF-"):
            content_type = "application/pdf"
        elif filename.lower().endswith(".txt"):
            try:
                body.decode("utf-8")
                content_type = "text/plain"
            except UnicodeDecodeError:
                found.append("The text file is not readable text (UTF-8).")
        else:
            found.append("Attach a PDF or a text (.txt) file.")
    elif note.strip():
        body, content_type = note.replace("\r\n", "\n").encode("utf-8"), "text/plain"
        if len(body) > MAX_BYTES:
            found.append("The note is too long.")
    else:
        found.append("Attach a PDF or a text file, or write a note.")
    if found:
        return found, None
    return [], Upload(title.strip(), type_code, when, content_type, body)


async def share(services: Services, console: Console, view: Viewing, upload: Upload) -> str:
    """Store the Binary and its DocumentReference; returns the DocumentReference's id."""
    base = services.settings.fhir_base
    patient_ref = f"Patient/{view.patient_id}"
    binary = validate({"resourceType": "Binary", "contentType": upload.content_type,
                       "securityContext": {"reference": patient_ref},
                       "data": base64.b64encode(upload.body).decode("ascii")}, "Binary")
    check_write(console.caller, "Binary", patient_compartments(binary, base), "c")
    stored = await services.store.create(binary)
    author: dict[str, Any] = {"display": console.staff.name}
    if console.staff.practitioner_id:
        author["reference"] = f"Practitioner/{console.staff.practitioner_id}"
    document = validate({
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": upload.type_code, "display": TYPES[upload.type_code]}],
                 "text": TYPES[upload.type_code]},
        "category": [CATEGORY],
        "subject": {"reference": patient_ref, "display": view.patient_name},
        "date": f"{upload.when}T12:00:00Z",
        "author": [author],
        "description": upload.title,
        "content": [{"attachment": {"contentType": upload.content_type, "url": f"Binary/{stored.id}",
                                    "title": upload.title, "creation": upload.when, "size": len(upload.body)}}],
    }, "DocumentReference")
    check_write(console.caller, "DocumentReference", patient_compartments(document, base), "c")
    created = await services.store.create(document)
    return created.id
