""""Request a refill": the Compose form prefilled for a current medication of the record.

The link names the medication by reference only (``?refill=MedicationRequest/abc``), never by
name, so no clinical words travel in URLs; the name is read here through the one door.
"""

from __future__ import annotations

from fhir_server.portal.record.medications import refill_of
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

CATEGORY = "Rx"


async def refill_form(services: Services, view: Viewing, ref: str, categories: list[str]) -> dict[str, str]:
    """Category, subject and body for a refill of ``ref``; empty when it is not a current
    medication of the patient in view (the plain Compose form then)."""
    medication = await refill_of(services, view, ref[:200])
    if medication is None:
        return {}
    dose = f" ({medication.dose})" if medication.dose else ""
    return {"category": CATEGORY if CATEGORY in categories else "",
            "subject": f"Refill request: {medication.name}"[:120],
            "body": f"Please refill my prescription for {medication.name}{dose}.\n\nPharmacy: \n"}
