"""CareSpace: a FHIR R4 server, a SMART on FHIR authorization server and a patient portal."""

__version__ = "0.1.0"
