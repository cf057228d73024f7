"""The Health tab: lab results, documents, and the download of the patient's record."""

from fhir_server.portal.health.routes import router

__all__ = ["router"]
