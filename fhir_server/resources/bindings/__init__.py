"""Required bindings of FHIR R4: a code in such an element must be one of its value set's codes."""
