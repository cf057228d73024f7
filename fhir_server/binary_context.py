"""Whose a Binary is: the one rule for serving a Binary reached through a DocumentReference."""

from __future__ import annotations

from typing import Any


def binary_serves(binary: dict[str, Any], patient_id: str, doc_id: str, fhir_base: str) -> bool:
    """True only if the Binary's ``securityContext`` names the patient or the document itself.

    A Binary that names no one, or names another patient or another document, is not served
    through this document: anyone may write a DocumentReference that points at any Binary."""
    reference = str((binary.get("securityContext") or {}).get("reference") or "")
    base = fhir_base.rstrip("/") + "/"
    if reference.startswith(base):
        reference = reference[len(base):]
    return reference in {f"Patient/{patient_id}", f"DocumentReference/{doc_id}"}
