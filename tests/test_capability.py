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
