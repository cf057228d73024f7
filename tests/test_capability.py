"""The served CapabilityStatement is the checked-in capability_statement.json."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import RunningServer

ROOT = Path(__file__).resolve().parents[1]


def test_metadata_matches_the_checked_in_statement(server: RunningServer) -> None:
    served = httpx.get(f"{server.fhir}/metadata").json()
    text = json.dumps(served).replace(server.url, "http://127.0.0.1:8080")
    expected = json.loads((ROOT / "capability_statement.json").read_text())
    assert json.loads(text) == expected, "regenerate: carespace capability > capability_statement.json"
    assert served["fhirVersion"] == "4.0.1"
    assert served["format"] == ["json"]
    types = {r["type"] for r in served["rest"][0]["resource"]}
    assert {"Patient", "Observation", "DocumentReference", "Communication", "Consent"} <= types


def test_the_interop_features_are_declared(server: RunningServer) -> None:
    """What EHRs look for before they call: the operations, export levels and parameters served."""
    rest = httpx.get(f"{server.fhir}/metadata").json()["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}

    def operations(resource_type: str) -> set[str]:
        return {o["definition"] for o in by_type[resource_type].get("operation", [])}

    assert "http://hl7.org/fhir/OperationDefinition/Observation-lastn" in operations("Observation")
    assert "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export" in operations("Group")
    assert "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export" in operations("Patient")
    composites = {p["name"] for p in by_type["Observation"]["searchParam"] if p["type"] == "composite"}
    assert {"code-value-quantity", "combo-code-value-quantity", "component-code-value-quantity"} <= composites
    assert {"name": "_has", "type": "special"} in rest["searchParam"]
    assert "url" in {p["name"] for p in by_type["ValueSet"]["searchParam"]}
    assert "_total" in rest["documentation"] and "_typeFilter" in rest["documentation"]
