"""Notices by email when something new arrives: over real SMTP, to the patient and family with
access, never with clinical content, one per person per kind per hour (an import of 200 results
sends one), each kind turned on or off in Settings; the hourly claim decided by the database."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from fhir_server import mail
from fhir_server.importer import import_paths
from fhir_server.notices import claims
from fhir_server.services import build_services
from tests.mailbox import Mailbox
from tests.support.mail import text_of
from tests.support.portal import FHIR_JSON, Person, add_delegate, form_post, registered_patient, sign_in
from tests.threaded import run_coroutine

RESULT, DOCUMENT = "You have a new test result in CareSpace", "You have a new document in CareSpace"
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}


def lab(patient: str, n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "category": [LAB],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2857-1"}], "text": "Prostate specific antigen"},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
            "valueQuantity": {"value": 40.0 + n, "unit": "ng/mL"}}


def document(patient: str) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient}"},
            "description": "Oncology consult", "date": "2026-01-02T00:00:00Z",
            "content": [{"attachment": {"contentType": "text/plain", "data": "UmVjdXJyZW5jZQ=="}}]}


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources]}


def settle(smtp: Mailbox, address: str, subject: str, expected: int, wait: float = 1.5) -> None:
    """``expected`` mails of ``subject`` to ``address``, and no more after a short wait."""
    if expected:
        smtp.wait_for(address, subject, after=0)
    time.sleep(wait)
    got = [m for m in smtp.to(address) if subject in m["Subject"]]
    assert len(got) == expected, [m["Subject"] for m in smtp.to(address)]


def test_200_results_in_one_import_send_one_mail_to_the_patient_and_to_family(
        server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    patient = registered_patient(server, admin, smtp, given="Nora", family="Noticed", birth_date="1966-06-06")
    helper = registered_patient(server, admin, smtp, given="Hal", family="Helper", birth_date="1990-01-09")
    add_delegate(server, smtp, patient, helper)
    # The same import for a patient nobody is told about (no portal account): what notices add.
    quiet = admin.post("/Patient", headers=FHIR_JSON, json={"resourceType": "Patient", "birthDate": "1950-01-01"})
    started = time.monotonic()
    baseline = admin.post("", headers=FHIR_JSON, json=transaction([lab(quiet.json()["id"], n) for n in range(200)]))
    quiet_took = time.monotonic() - started
    assert baseline.status_code == 200, baseline.text
    started = time.monotonic()
    stored = admin.post("", headers=FHIR_JSON, json=transaction([lab(patient.patient_id, n) for n in range(200)]))
    took = time.monotonic() - started
    assert stored.status_code == 200, stored.text
    print(f"\n200-result transaction: {quiet_took:.2f} s with no one to tell, {took:.2f} s telling two people")
    settle(smtp, patient.email, RESULT, 1)
    settle(smtp, helper.email, RESULT, 1, wait=0)
    mail = next(m for m in smtp.to(patient.email) if RESULT in m["Subject"])
    body = text_of(mail)
    assert f"{server.url}/health" in body
    for clinical in ("Prostate", "antigen", "ng/mL", "2857-1"):
        assert clinical not in mail.as_string()
    family = text_of(next(m for m in smtp.to(helper.email) if RESULT in m["Subject"]))
    assert "Nora Noticed's portal" in family

    # Within the hour, another result mails no one; a document is another kind, so it does.
    assert admin.post("/Observation", headers=FHIR_JSON, json=lab(patient.patient_id, 500)).status_code == 201
    assert admin.post("/DocumentReference", headers=FHIR_JSON, json=document(patient.patient_id)).status_code == 201
    smtp.wait_for(patient.email, DOCUMENT)
    smtp.wait_for(helper.email, DOCUMENT)
    settle(smtp, patient.email, RESULT, 1, wait=0.5)
    assert "Oncology consult" not in next(m for m in smtp.to(patient.email) if DOCUMENT in m["Subject"]).as_string()


def test_each_person_turns_each_kind_on_or_off(server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    patient: Person = registered_patient(server, admin, smtp, given="Quinn", family="Quiet", birth_date="1977-07-07")
    with sign_in(server, *patient.credentials) as client:
        page = client.get("/settings")
        assert 'id="kind-result" name="kind" value="result" checked' in page.text
        saved = form_post(client, "/settings/notices", {"kind": "document"})
        assert saved.status_code == 303 and saved.headers["location"] == "/settings?notice=emails-saved"
        page = client.get(saved.headers["location"])
        assert "Your email choices are saved." in page.text
        assert 'value="result" checked' not in page.text and 'value="document" checked' in page.text
    assert admin.post("/Observation", headers=FHIR_JSON, json=lab(patient.patient_id, 1)).status_code == 201
    assert admin.post("/DocumentReference", headers=FHIR_JSON, json=document(patient.patient_id)).status_code == 201
    smtp.wait_for(patient.email, DOCUMENT)
    settle(smtp, patient.email, RESULT, 0, wait=0.5)


def test_what_a_patient_writes_themselves_is_not_announced(server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    patient = registered_patient(server, admin, smtp, given="Sam", family="Self", birth_date="1985-05-05")
    with server.client("patient/*.cruds", patient=patient.patient_id, fhirUser=f"Patient/{patient.patient_id}") as own:
        assert own.post("/Observation", headers=FHIR_JSON, json=lab(patient.patient_id, 2)).status_code == 201
    assert admin.post("/DocumentReference", headers=FHIR_JSON, json=document(patient.patient_id)).status_code == 201
    smtp.wait_for(patient.email, DOCUMENT)
    settle(smtp, patient.email, RESULT, 0, wait=0.5)


def test_two_workers_claiming_the_same_hour_send_once(mongo_uri: str, server: Any) -> None:
    async def race() -> list[bool]:
        client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            db = client[server.settings.database_name]
            account, now = f"race-{time.time_ns()}", datetime.now(UTC)
            first = await asyncio.gather(*(claims.claim(db, account, "result", now) for _ in range(8)))
            later = now + claims.INTERVAL + timedelta(seconds=1)
            second = await asyncio.gather(*(claims.claim(db, account, "result", later) for _ in range(8)))
            other_kind = await claims.claim(db, account, "document", now)
            return [sum(first) == 1, sum(second) == 1, other_kind]
        finally:
            await client.close()

    assert run_coroutine(race()) == [True, True, True]


def test_an_ndjson_import_of_200_results_sends_one_mail(server: Any, admin: httpx.Client, smtp: Mailbox,
                                                        tmp_path: Path) -> None:
    patient = registered_patient(server, admin, smtp, given="Ivo", family="Imported", birth_date="1948-03-03")
    source = tmp_path / "Observation.ndjson"
    source.write_text("\n".join(json.dumps(lab(patient.patient_id, n)) for n in range(200)) + "\n")

    async def run() -> Any:  # ``carespace import`` against the server's database and mail
        services = await build_services(server.settings)
        try:
            return await import_paths(services, [source], progress=False)
        finally:
            assert await mail.drain(wait_at_most=60)  # as the command does before it exits
            await services.db.close()

    report = run_coroutine(run())
    assert not report.failures and report.counts["Observation"] == 200
    settle(smtp, patient.email, RESULT, 1)
