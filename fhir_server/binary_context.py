"""Binaries reached through a DocumentReference: which Binary an attachment URL names, and the
one rule for whether it may be served through that document."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit


def binary_serves(binary: dict[str, Any], patient_id: str, doc_id: str, fhir_base: str) -> bool:
    """True only if the Binary's ``securityContext`` names the patient or the document itself.

    A Binary that names no one, or names another patient or another document, is not served
    through this document: anyone may write a DocumentReference that points at any Binary."""
    reference = str((binary.get("securityContext") or {}).get("reference") or "")
    base = fhir_base.rstrip("/") + "/"
    if reference.startswith(base):
        reference = reference[len(base):]
    return reference in {f"Patient/{patient_id}", f"DocumentReference/{doc_id}"}


def binary_id(url: str, fhir_base: str) -> str | None:
    """The id of a Binary on this server that ``url`` names, or None."""
    parts, base = urlsplit(url), urlsplit(fhir_base.rstrip("/"))
    path = parts.path
    if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None  # another server's URL: not ours to fetch
    if path.startswith(f"{base.path}/Binary/"):
        rest = path[len(base.path) + len("/Binary/"):]
    elif not parts.scheme and path.startswith("Binary/"):
        rest = path[len("Binary/"):]
    else:
        return None
    rest = rest.split("/_history/")[0]
    return rest if re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rest) else None
