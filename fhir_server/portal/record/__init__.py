"""The rest of the record on the Health tab: problems, medications, allergies, immunizations,
vitals, visits and care team — one module per section, all read through the one door."""

from fhir_server.portal.pages import env
from fhir_server.portal.record.routes import router
from fhir_server.portal.record.sections import MENU

# The section menu is on the Health overview too, whose route knows nothing of the sections.
env.globals["record_menu"] = MENU

__all__ = ["router"]
