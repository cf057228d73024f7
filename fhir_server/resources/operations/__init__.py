"""FHIR operations, one module each, registered in ``routes/operations.py``."""
