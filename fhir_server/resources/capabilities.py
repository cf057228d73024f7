"""The CapabilityStatement, generated from what the code supports
(https://hl7.org/fhir/R4/capabilitystatement.html). ``capability_statement.json`` at the
repository root is this document for the default base URL."""

from __future__ import annotations

from typing import Any

from fhir_server import __version__
from fhir_server.resources.search.composite import COMPOSITES
from fhir_server.resources.search.definitions import params_for
from fhir_server.resources.validation import resource_types

RELEASE_DATE = "2026-11-26"
INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                "create", "search-type"]
SMART_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
# Operations served, each with its OperationDefinition (the table the routes register).
TYPE_OPERATIONS: dict[str, list[tuple[str, str]]] = {
    "Patient": [("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
                ("invite", "https://carespace.example.org/OperationDefinition/Patient-invite"),
                ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export")],
    "Observation": [("lastn", "http://hl7.org/fhir/OperationDefinition/Observation-lastn")],
    "Group": [("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export")],
}
SYSTEM_OPERATIONS = [("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export")]
ALL_TYPE_OPERATIONS = [("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate")]


# What a client needs to know that the structure above cannot say (rest.documentation).
SEARCH_DOCUMENTATION = (
    "Search: every parameter listed per type, with :missing, :not, :exact, :contains, :text, :of-type, "
    ":identifier; token :in and :not-in take the url of a ValueSet held on this server (expanded from its "
    "expansion or compose), :below and :above take system|code of a CodeSystem held on this server whose "
    "concepts nest; one level of chaining and of _has (reverse chaining); composite parameters take code$value. "
    "_total: without it, Bundle.total is given when the first page holds every match or when the index alone "
    "decides the matches, and left out otherwise (paging is by an opaque keyset cursor); _total=accurate always "
    "counts, _total=none never does, _total=estimate is the default behaviour. "
    "Patch: JSON Patch, JSON merge patch and FHIRPath Patch (a Parameters body, also in Bundle PATCH entries). "
    "Validation: codes under a required binding of FHIR R4 4.0.1 must be in the value set (422 otherwise). "
    "Bulk Data export at system, Patient and Group level with _type, _since, _typeFilter (several, OR'ed), "
    "_elements (SUBSETTED) and patient (Patient and Group level, POST Parameters) for back-end clients."
)


def _search_params(resource_type: str) -> list[dict[str, str]]:
    out = []
    for name, param in sorted(params_for(resource_type).items()):
        kind = "token" if param.type == "special" else param.type
        out.append({"name": name, "type": kind})
    out += [{"name": name, "type": "composite",
             "definition": f"http://hl7.org/fhir/SearchParameter/{resource_type}-{name}"}
            for name in sorted(COMPOSITES.get(resource_type, {}))]
    return sorted(out, key=lambda p: p["name"])


def _resource(resource_type: str) -> dict[str, Any]:
    operations = TYPE_OPERATIONS.get(resource_type, []) + ALL_TYPE_OPERATIONS
    entry: dict[str, Any] = {
        "type": resource_type,
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": ["*"],
        "searchRevInclude": ["*"],
        "searchParam": _search_params(resource_type),
    }
    if operations:
        entry["operation"] = [{"name": name, "definition": url} for name, url in operations]
    return entry


def capability_statement(base_url: str) -> dict[str, Any]:
    base = base_url.rstrip("/")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASE_DATE,
        "publisher": "CareSpace",
        "kind": "instance",
        "software": {"name": "CareSpace", "version": __version__},
        "implementation": {"description": "CareSpace FHIR R4 server", "url": f"{base}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": SEARCH_DOCUMENTATION,
            "security": {
                "cors": True,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": SMART_EXTENSION, "extension": [
                    {"url": "authorize", "valueUri": f"{base}/auth/authorize"},
                    {"url": "token", "valueUri": f"{base}/auth/token"},
                    {"url": "introspect", "valueUri": f"{base}/auth/introspect"},
                    {"url": "revoke", "valueUri": f"{base}/auth/revoke"},
                ]}],
            },
            "resource": [_resource(t) for t in sorted(resource_types())],
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "search-system"},
                            {"code": "history-system"}],
            "operation": [{"name": name, "definition": url} for name, url in SYSTEM_OPERATIONS],
            "searchParam": [{"name": n, "type": t} for n, t in (
                ("_id", "token"), ("_lastUpdated", "date"), ("_tag", "token"), ("_profile", "uri"),
                ("_security", "token"), ("_source", "uri"), ("_has", "special"))],
        }],
    }
