"""The SMART on FHIR authorization server."""
