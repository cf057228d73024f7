"""Refused attempts leave a trace (security review, issue 13, Low 9): a denied cross-patient read,
compartment search or write, and a scope refusal, each write an AuditEvent (outcome serious or
minor failure, the agent, what was asked); a flood of the same refusal writes one event per
window and counts the rest."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from fhir_server.audit_refusals import Throttle

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def refusals_by(db: Any, who: str) -> list[dict[str, Any]]:
    found = db["AuditEvent"].find({"res.agent.who.reference": who, "res.outcome": {"$in": ["4", "8"]}})
    return [doc["res"] for doc in found]


def test_denied_reads_searches_and_writes_are_audited_once_per_reason(server: Any, admin: httpx.Client,
                                                                      db: Any) -> None:
    victim = admin.post("/Patient", headers=FHIR_JSON, json={"resourceType": "Patient"}).json()["id"]
    prober = admin.post("/Patient", headers=FHIR_JSON, json={"resourceType": "Patient"}).json()["id"]
    note = admin.post("/Observation", headers=FHIR_JSON, json={
        "resourceType": "Observation", "status": "final", "code": {"text": "private"},
        "subject": {"reference": f"Patient/{victim}"}}).json()
    me = f"Patient/{prober}"
    with server.client("patient/Observation.cruds patient/Patient.rs", patient=prober, fhirUser=me,
                       sub=f"prober-{uuid.uuid4().hex[:6]}") as api:
        for _ in range(25):  # a flood of the same attempt
            assert api.get(f"/Observation/{note['id']}").status_code == 404
        assert api.get(f"/Patient/{victim}/Observation").status_code == 404
        written = api.post("/Observation", headers=FHIR_JSON, json={**note, "id": None})
        assert written.status_code == 403
        assert api.get("/Condition").status_code == 403  # no scope for it

    events = refusals_by(db, me)
    by_what = {(e["subtype"][0]["code"], e["outcome"]): e for e in events}
    read = next(e for e in events if f"read Observation/{note['id']}" in e["outcomeDesc"])
    assert read["outcome"] == "8" and read["subtype"][0]["code"] == "read"
    assert {"what": {"reference": f"Observation/{note['id']}"}} in read["entity"]
    assert read["agent"][0]["altId"] == "tests" and read["action"] == "R"
    assert ("create", "8") in by_what and "outside this token's access" in by_what[("create", "8")]["outcomeDesc"]
    assert by_what[("search-type", "4")]["outcomeDesc"].startswith("Refused (403) search Condition")
    compartment = [e for e in events if f"read Patient/{victim}" in e.get("outcomeDesc", "")]
    assert len(compartment) == 1 and compartment[0]["outcome"] == "8"
    # 25 refused reads of the same kind: one event, not 25.
    reads = [e for e in events if e["subtype"][0]["code"] == "read" and "Observation/" in e["outcomeDesc"]]
    assert len(reads) == 1
    # The victim is named in no entity: a stranger's attempt does not land in her compartment.
    assert all(x["what"]["reference"] != f"Patient/{victim}" for e in events for x in e.get("entity", []))


def test_the_count_of_a_flood_goes_into_the_next_event_and_the_total_is_bounded() -> None:
    now = [0.0]
    throttle = Throttle(window=60, overall=3, clock=lambda: now[0])
    assert throttle.admit(("a",)) == 0
    assert [throttle.admit(("a",)) for _ in range(40)] == [None] * 40
    now[0] = 61
    assert throttle.admit(("a",)) == 40  # the next event reports the 40 counted in between
    assert throttle.admit(("b",)) == 0 and throttle.admit(("c",)) == 0
    assert throttle.admit(("d",)) is None  # three events this window: the rest are only counted
    now[0] = 122
    assert throttle.admit(("d",)) == 1
