"""Create, read, vread, update, delete over real HTTP against the real database."""

from __future__ import annotations

import httpx

PATIENT = {"resourceType": "Patient", "name": [{"family": "Testperson", "given": ["Ada"]}],
           "gender": "female", "birthDate": "1970-02-03"}


def create(admin: httpx.Client, resource: dict) -> httpx.Response:
    response = admin.post(f"/{resource['resourceType']}", json=resource,
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    return response


def test_create_assigns_id_version_and_location(admin: httpx.Client) -> None:
    response = create(admin, {**PATIENT, "id": "client-chosen"})
    body = response.json()
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["content-type"].startswith("application/fhir+json")
    read = admin.get(f"/Patient/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


def test_update_versions_and_vread_keeps_old_versions(admin: httpx.Client) -> None:
    patient = create(admin, PATIENT).json()
    changed = {**patient, "gender": "other"}
    response = admin.put(f"/Patient/{patient['id']}", json=changed)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["gender"] == "other"
    old = admin.get(f"/Patient/{patient['id']}/_history/1")
    assert old.json()["gender"] == "female"
    assert old.headers["ETag"] == 'W/"1"'
    history = admin.get(f"/Patient/{patient['id']}/_history").json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]


def test_update_with_client_id_creates(admin: httpx.Client) -> None:
    response = admin.put("/Patient/chosen-id-1", json={**PATIENT, "id": "chosen-id-1"})
    assert response.status_code == 201
    assert response.json()["id"] == "chosen-id-1"
    assert response.headers["Location"].endswith("/Patient/chosen-id-1/_history/1")


def test_stale_if_match_is_refused_and_changes_nothing(admin: httpx.Client) -> None:
    patient = create(admin, PATIENT).json()
    pid = patient["id"]
    ok = admin.put(f"/Patient/{pid}", json={**patient, "gender": "male"}, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = admin.put(f"/Patient/{pid}", json={**patient, "gender": "unknown"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert "version 2" in stale.json()["issue"][0]["diagnostics"]
    assert admin.get(f"/Patient/{pid}").json()["gender"] == "male"


def test_concurrent_updates_of_one_version_exactly_one_wins(server, admin: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    patient = create(admin, PATIENT).json()
    pid = patient["id"]

    def attempt(gender: str) -> int:
        with server.client() as client:
            return client.put(f"/Patient/{pid}", json={**patient, "gender": gender},
                              headers={"If-Match": 'W/"1"'}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, ["male", "female", "other", "unknown"] * 2))
    assert statuses.count(200) == 1
    assert statuses.count(412) == 7
    assert admin.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_delete_then_read_is_gone_and_history_keeps_it(admin: httpx.Client) -> None:
    pid = create(admin, PATIENT).json()["id"]
    assert admin.delete(f"/Patient/{pid}").status_code == 204
    gone = admin.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    history = admin.get(f"/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert admin.get(f"/Patient/{pid}/_history/1").status_code == 200
    # Deleting again is fine (idempotent); re-creating continues the version line.
    assert admin.delete(f"/Patient/{pid}").status_code == 204
    again = admin.put(f"/Patient/{pid}", json={**PATIENT, "id": pid})
    assert again.status_code == 201
    assert again.json()["meta"]["versionId"] == "3"


def test_conditional_read_answers_304(admin: httpx.Client) -> None:
    response = create(admin, PATIENT)
    pid = response.json()["id"]
    same = admin.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304
    assert same.content == b""
    later = admin.get(f"/Patient/{pid}", headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert later.status_code == 304
    assert admin.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"7"'}).status_code == 200


def test_prefer_return(admin: httpx.Client) -> None:
    minimal = admin.post("/Patient", json=PATIENT, headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["Location"]
    outcome = admin.post("/Patient", json=PATIENT, headers={"Prefer": "return=OperationOutcome"})
    assert outcome.json()["resourceType"] == "OperationOutcome"


def test_json_patch_and_merge_patch(admin: httpx.Client) -> None:
    patient = create(admin, PATIENT).json()
    pid = patient["id"]
    patched = admin.patch(f"/Patient/{pid}", content=b'[{"op": "replace", "path": "/gender", "value": "male"}]',
                          headers={"Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["gender"] == "male"
    assert patched.json()["meta"]["versionId"] == "2"
    merged = admin.patch(f"/Patient/{pid}", json={"birthDate": "1971-01-01", "gender": None})
    assert merged.status_code == 200, merged.text
    assert merged.json()["birthDate"] == "1971-01-01"
    assert "gender" not in merged.json()
    bad = admin.patch(f"/Patient/{pid}", json={"birthDate": "not-a-date"})
    assert bad.status_code == 422
    assert admin.get(f"/Patient/{pid}").json()["birthDate"] == "1971-01-01"


def test_conditional_create_update_and_delete(admin: httpx.Client) -> None:
    identifier = {"system": "https://example.org/mrn", "value": "COND-REST-1"}
    body = {**PATIENT, "identifier": [identifier]}
    criteria = "identifier=https://example.org/mrn|COND-REST-1"
    created = admin.post("/Patient", json=body, headers={"If-None-Exist": criteria})
    assert created.status_code == 201
    again = admin.post("/Patient", json=body, headers={"If-None-Exist": criteria})
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    updated = admin.put(f"/Patient?{criteria}", json={**body, "gender": "male"})
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"
    assert admin.delete(f"/Patient?{criteria}").status_code == 204
    assert admin.get(f"/Patient/{created.json()['id']}").status_code == 410


def test_history_pages_follow_next_links_without_gaps(admin: httpx.Client) -> None:
    patient = create(admin, PATIENT).json()
    for gender in ("male", "female", "other", "unknown", "male"):
        patient = admin.put(f"/Patient/{patient['id']}", json={**patient, "gender": gender}).json()
    seen: list[str] = []
    response = admin.get("/Patient/_history", params={"_count": "2"})
    while response.status_code == 200 and len(seen) < 60:
        bundle = response.json()
        seen += [f"{e['fullUrl']}|{e['response']['etag']}" for e in bundle["entry"]]
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nexts:
            break
        response = admin.get(nexts[0])
    assert len(seen) == len(set(seen)), "a version repeated across pages"
    ours = [s for s in seen if f"/Patient/{patient['id']}|" in s]
    assert [s.split("|")[1] for s in ours] == [f'W/"{v}"' for v in range(6, 0, -1)]


def test_audit_events_are_readable_by_id_and_instance_history(admin: httpx.Client) -> None:
    admin.get("/Patient/jane-doe")
    events = admin.get("/AuditEvent", params={"patient": "jane-doe", "_sort": "-date", "_count": "1"}).json()
    event = events["entry"][0]["resource"]
    assert admin.get(f"/AuditEvent/{event['id']}").json()["id"] == event["id"]
    history = admin.get(f"/AuditEvent/{event['id']}/_history").json()
    assert [e["resource"]["id"] for e in history["entry"]] == [event["id"]]
    assert admin.get(f"/AuditEvent/{event['id']}/_history/1").status_code == 200
