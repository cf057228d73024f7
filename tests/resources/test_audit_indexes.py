"""The audit trail is indexed for the queries it has, and only for those.

One AuditEvent per access, kept for years: each generic multikey index would cost every
request an index write. A patient's trail, an agent's, by id and by _lastUpdated stay
indexed searches; a search with nothing indexed to drive it is refused, not run as a scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo import MongoClient

from fhir_server.resources.search import includes, index_models
from tests.conftest import RunningServer

AUDIT_INDEXES = {"_id_", "comp_id", "lu_id", "comp_srt_date_id", "ref_srt_date_id"}


def _ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_the_audit_trail_has_only_its_indexes(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    admin.get("/Patient/jane-doe").raise_for_status()
    assert set(db.AuditEvent.index_information()) == AUDIT_INDEXES
    assert {"idx_tok", "idx_ref"} <= set(db.Observation.index_information()), "other types keep theirs"


def test_audit_searches_by_patient_agent_id_and_time(admin: httpx.Client, server: RunningServer) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    admin.get("/Patient/jane-doe").raise_for_status()
    newest = admin.get("/AuditEvent", params={"patient": "jane-doe", "_sort": "-date", "_count": "1"}).json()
    event = newest["entry"][0]["resource"]
    assert event["entity"][0]["what"]["reference"] == "Patient/jane-doe"
    agent = event["agent"][0]["who"]["reference"]
    by_agent = admin.get("/AuditEvent", params={"agent": agent, "_sort": "-date", "_count": "5"}).json()
    # (the searches are audited too: newer events of the same agent come first)
    assert event["id"] in _ids(by_agent)
    recorded = [e["resource"]["recorded"] for e in by_agent["entry"]]
    assert recorded == sorted(recorded, reverse=True)
    assert all(e["resource"]["agent"][0]["who"]["reference"] == agent for e in by_agent["entry"])
    by_entity = admin.get("/AuditEvent", params={"entity": "Patient/jane-doe", "_count": "1000"}).json()
    assert event["id"] in _ids(by_entity)
    assert _ids(admin.get("/AuditEvent", params={"_id": event["id"]}).json()) == [event["id"]]
    recent = admin.get("/AuditEvent", params={"_lastUpdated": f"ge{since}", "_count": "1000"}).json()
    assert event["id"] in _ids(recent)
    # A clause with no index of its own is checked on what the indexed one finds.
    reads = admin.get("/AuditEvent", params={"patient": "jane-doe", "action": "R", "_count": "1000"}).json()
    creates = admin.get("/AuditEvent", params={"patient": "jane-doe", "action": "C", "_count": "1000"}).json()
    assert event["id"] in _ids(reads) and event["id"] not in _ids(creates)


def test_an_audit_search_nothing_indexed_drives_is_refused(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    before = db.AuditEvent.count_documents({})
    response = admin.get("/AuditEvent", params={"action": "R"})
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "too-costly"
    assert "patient" in outcome["issue"][0]["diagnostics"]
    assert db.AuditEvent.count_documents({}) >= before


def test_an_earlier_versions_audit_indexes_are_dropped(
        start_server: Callable[..., AbstractContextManager[RunningServer]], mongo: MongoClient) -> None:
    name = f"carespace_{uuid.uuid4().hex[:8]}"
    old = mongo[name].AuditEvent
    old.create_indexes(index_models("Observation")[:2])  # what every type had: comp_id, lu_id…
    old.create_index("idx.tok", name="idx_tok")  # …and the generic multikey ones
    old.create_index("idx.str", name="idx_str")
    try:
        with start_server(database_name=name) as other, other.client() as client:
            client.get("/Patient/jane-doe").raise_for_status()
        assert set(old.index_information()) == AUDIT_INDEXES
    finally:
        mongo.drop_database(name)


def test_an_audit_event_stores_only_the_search_keys_its_indexes_read(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    admin.get("/Patient/jane-doe").raise_for_status()
    stored = db.AuditEvent.find_one({"comp": "jane-doe"}, sort=[("idx.srt.date", -1), ("_id", -1)])
    assert set(stored["idx"]) == {"ref", "srt"}, "tokens, dates and :missing names are not written"
    assert "entity\x1fPatient/jane-doe" in stored["idx"]["ref"]
    assert stored["idx"]["srt"]["date"] == stored["res"]["recorded"]
    event_id = stored["_id"]
    # Clauses on the keys it does not store are checked on keys computed from the resource.
    read = "http://hl7.org/fhir/restful-interaction|read"
    found = admin.get("/AuditEvent", params={
        "patient": "jane-doe", "subtype": read, "date": f"ge{since}", "outcome:missing": "false",
        "_count": "1000"}).json()
    assert event_id in _ids(found)
    for miss in ({"subtype": "http://hl7.org/fhir/restful-interaction|create"},
                 {"date": f"lt{since}"}, {"outcome:missing": "true"}):
        other = admin.get("/AuditEvent", params={"patient": "jane-doe", "_count": "1000", **miss}).json()
        assert event_id not in _ids(other), miss
    # Keys an earlier version stored are not what decides: the resource is.
    stale = ["subtype\x1fs:http://hl7.org/fhir/restful-interaction|create"]
    db.AuditEvent.update_one({"_id": event_id}, {"$set": {"idx.tok": stale}})
    again = admin.get("/AuditEvent", params={"patient": "jane-doe", "subtype": read, "_count": "1000"}).json()
    assert event_id in _ids(again)


def test_a_scope_restricting_audit_events_is_checked_on_the_keys_not_stored(
        admin: httpx.Client, server: RunningServer) -> None:
    admin.get("/Patient/jane-doe").raise_for_status()  # a read…
    admin.get("/Observation", params={"patient": "jane-doe", "_count": "1"}).raise_for_status()  # …and a search
    with server.client("system/Patient.rs system/AuditEvent.rs?action=R") as client:
        trail = client.get("/AuditEvent", params={"patient": "jane-doe", "_count": "1000"}).json()
        actions = {e["resource"]["action"] for e in trail["entry"]}
        assert actions == {"R"}, actions
        bundle = client.get("/Patient", params={"_id": "jane-doe", "_revinclude": "AuditEvent:entity",
                                                "_count": "1"}).json()
        included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert included and {r["action"] for r in included} == {"R"}


def test_what_a_scope_hides_does_not_use_up_the_include_limit(
        admin: httpx.Client, server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(includes, "INCLUDE_LIMIT", 5)  # the server runs in this process
    patient = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Limit"}]}).json()
    pid = patient["id"]
    for gender in ("male", "female", "male", "female"):  # with the create: five events the scope hides…
        admin.put(f"/Patient/{pid}", json={**patient, "gender": gender}).raise_for_status()
    admin.get(f"/Patient/{pid}").raise_for_status()  # …recorded before the two it shows
    admin.get(f"/Patient/{pid}").raise_for_status()
    trail = admin.get("/AuditEvent", params={"entity": f"Patient/{pid}", "_count": "100"}).json()
    actions = [e["resource"]["action"] for e in trail["entry"]]
    assert actions.count("C") + actions.count("U") == 5 and actions.count("R") >= 2, actions
    reads = {e["resource"]["id"] for e in trail["entry"] if e["resource"]["action"] == "R"}
    with server.client("system/Patient.rs system/AuditEvent.rs?action=R") as client:
        bundle = client.get("/Patient", params={"_id": pid, "_revinclude": "AuditEvent:entity"}).json()
        included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert reads <= {r["id"] for r in included}
        assert {r["action"] for r in included} == {"R"}
        assert not [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"], "nothing was left out"
        # Where the limit does cut the include short, the Bundle says so.
        monkeypatch.setattr(includes, "INCLUDE_LIMIT", 1)
        bundle = client.get("/Patient", params={"_id": pid, "_revinclude": "AuditEvent:entity"}).json()
    kinds = [e["search"]["mode"] for e in bundle["entry"]]
    assert kinds == ["match", "include", "outcome"], kinds
    issue = bundle["entry"][-1]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and issue["code"] == "incomplete" and "_count" in issue["diagnostics"]


def test_an_include_exactly_at_the_limit_is_not_reported_cut_short(
        admin: httpx.Client, server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    patient = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Exact"}]}).json()
    pid = patient["id"]
    for gender in ("male", "female", "other"):  # three updates: the only events this scope shows
        admin.put(f"/Patient/{pid}", json={**patient, "gender": gender}).raise_for_status()
    params = {"_id": pid, "_revinclude": "AuditEvent:entity"}
    with server.client("system/Patient.rs system/AuditEvent.rs?action=U") as client:
        monkeypatch.setattr(includes, "INCLUDE_LIMIT", 3)
        bundle = client.get("/Patient", params=params).json()
        assert [e["search"]["mode"] for e in bundle["entry"]] == ["match", "include", "include", "include"]
        monkeypatch.setattr(includes, "INCLUDE_LIMIT", 2)
        bundle = client.get("/Patient", params=params).json()
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match", "include", "include", "outcome"]
    assert bundle["entry"][-1]["resource"]["issue"][0]["code"] == "incomplete"
