"""The FHIR R4 REST engine: store, search, bundles, operations."""
