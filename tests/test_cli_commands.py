"""The README's commands against the test server's database: clients add (--confidential,
--backend --jwks-url), clients remove, capability, import of a folder with a collection
Bundle and NDJSON, and staff add/list (staff remove is in tests/practice, with the sessions it ends)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.db import CLIENTS
from fhir_server.embedded_db import free_port
from tests.conftest import RunningServer
from tests.smart.helpers import REDIRECT, BackendKey, backend_token_request, make_code, token_request
from tests.support.mail import link_in
from tests.support.practice import carespace as staff_command
from tests.support.practice import unique_staff_email

ROOT = Path(__file__).resolve().parents[1]


def carespace(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    env |= {"MONGODB_URI": server.mongo_uri, "CARESPACE_DB_NAME": server.settings.database_name,
            "CARESPACE_BASE_URL": server.url, "CARESPACE_DATA_DIR": str(server.settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def added(server: RunningServer, *args: str) -> dict[str, Any]:
    result = carespace(server, "clients", "add", "--name", f"CLI app {uuid.uuid4().hex[:4]}", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def jwks_site() -> Iterator[tuple[str, BackendKey]]:
    """A web server publishing a back-end client's JWK Set, as a real client would."""
    key = BackendKey("ES384")
    body = json.dumps(key.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_port}/.well-known/jwks.json", key
    finally:
        site.shutdown()
        site.server_close()


def test_a_backend_client_added_with_a_jwks_url_gets_a_token_and_is_removed(
        server: RunningServer, jwks_site: tuple[str, BackendKey]) -> None:
    url, key = jwks_site
    client = added(server, "--backend", "--jwks-url", url, "--scope", "system/Patient.rs")
    assert client["jwks_url"] == url and "client_secret" not in client
    aud = f"{server.url}/auth/token"
    granted = backend_token_request(server, client["client_id"], key.assertion(client["client_id"], aud),
                                    scope="system/Patient.rs")
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "system/Patient.rs"

    removed = carespace(server, "clients", "remove", client["client_id"])
    assert removed.returncode == 0, removed.stderr
    listed = json.loads(carespace(server, "clients", "list").stdout)
    assert client["client_id"] not in {c["client_id"] for c in listed}
    refused = backend_token_request(server, client["client_id"], key.assertion(client["client_id"], aud))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    again = carespace(server, "clients", "remove", client["client_id"])
    assert again.returncode == 1 and "Traceback" not in again.stderr


def test_a_confidential_client_authenticates_with_the_secret_printed_once(server: RunningServer) -> None:
    client = added(server, "--confidential", "--redirect-uri", REDIRECT)
    secret = client["client_secret"]
    listed = carespace(server, "clients", "list").stdout
    assert secret not in listed  # printed once, stored hashed
    from tests.smart.helpers import run

    stored = run(server, lambda db: db[CLIENTS].find_one({"_id": client["client_id"]}))
    assert stored is not None and stored["secret_hash"]
    assert secret not in json.dumps(stored, default=str)

    from fhir_server.smart.clients import Client

    as_client = Client(client_id=client["client_id"], name=client["name"], kind="confidential")
    code, verifier = make_code(server, as_client, "launch/patient patient/Patient.rs")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    assert token_request(server, data, auth=(client["client_id"], secret)).status_code == 200
    code, verifier = make_code(server, as_client, "launch/patient patient/Patient.rs")
    data.update(code=code, code_verifier=verifier)
    assert token_request(server, data, auth=(client["client_id"], secret + "x")).status_code == 401


def test_capability_prints_the_checked_in_statement(server: RunningServer) -> None:
    result = carespace(server, "capability")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.replace(server.url, "http://127.0.0.1:8080"))
    assert printed == json.loads((ROOT / "capability_statement.json").read_text())


def test_import_reads_a_folder_of_collection_bundles_and_ndjson(server: RunningServer, admin: httpx.Client,
                                                                tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    patient = {"resourceType": "Patient", "id": f"imp-{tag}", "name": [{"family": f"Imported{tag}"}]}
    observation = {"resourceType": "Observation", "id": f"imp-obs-{tag}", "status": "final",
                   "code": {"text": "weight"}, "subject": {"reference": f"Patient/imp-{tag}"}}
    folder = tmp_path / "export"
    (folder / "nested").mkdir(parents=True)
    (folder / "bundle.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"{server.fhir}/Patient/imp-{tag}", "resource": patient}]}))
    (folder / "nested" / "Observation.ndjson").write_text(json.dumps(observation) + "\n")
    result = carespace(server, "import", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    assert admin.get(f"/Patient/imp-{tag}").json()["name"][0]["family"] == f"Imported{tag}"
    stored = admin.get(f"/Observation/imp-obs-{tag}")
    assert stored.status_code == 200 and stored.json()["subject"]["reference"] == f"Patient/imp-{tag}"
    found = admin.get("/Observation", params={"patient": f"imp-{tag}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [f"imp-obs-{tag}"]


def test_an_ndjson_import_updates_what_exists_and_keeps_the_later_line_of_an_id_given_twice(
        server: RunningServer, admin: httpx.Client, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]

    def observation(obs_id: str, value: float) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": obs_id, "status": "final", "code": {"text": "weight"},
                "valueQuantity": {"value": value, "unit": "kg"}}

    known, twice = f"nd-{tag}-known", f"nd-{tag}-twice"
    assert admin.put(f"/Observation/{known}", json=observation(known, 70)).status_code == 201
    source = tmp_path / "Observation.ndjson"
    source.write_text("\n".join(json.dumps(o) for o in (observation(known, 71), observation(twice, 80),
                                                        observation(twice, 81))) + "\n")
    result = carespace(server, "import", str(source))
    assert result.returncode == 0, result.stdout + result.stderr
    updated, created = admin.get(f"/Observation/{known}").json(), admin.get(f"/Observation/{twice}").json()
    assert (updated["valueQuantity"]["value"], updated["meta"]["versionId"]) == (71, "2")
    assert (created["valueQuantity"]["value"], created["meta"]["versionId"]) == (81, "1")
    versions = admin.get(f"/Observation/{known}/_history").json()["entry"]
    assert [e["resource"]["valueQuantity"]["value"] for e in versions] == [71, 70]


def test_staff_add_links_a_practitioner_mails_an_invite_and_list_shows_the_status(
        server: Any, smtp: Any, admin: httpx.Client, db: Any) -> None:
    email = unique_staff_email("lee")
    added = staff_command(server, "staff", "add", "--email", email, "--name", "Lee Park", "--role", "clinician")
    assert added.returncode == 0, added.stderr
    assert f"Added Lee Park <{email}> as clinician, linked to a new Practitioner/" in added.stdout
    assert "Their invite was sent. It works once, for 4 days." in added.stdout
    doc = db["staff"].find_one({"email": email})
    practitioner = admin.get(f"/Practitioner/{doc['practitioner_id']}").json()
    assert practitioner["name"][0]["family"] == "Park" and practitioner["telecom"][0]["value"] == email
    assert doc["password_hash"] is None and "two_step" not in doc

    mail = smtp.wait_for(email, "practice console account")
    assert "/practice/register?token=" in link_in(mail, "/practice/register")
    listed = staff_command(server, "staff", "list")
    row = next(line for line in listed.stdout.splitlines() if email in line)
    assert row.split()[3:5] == ["clinician", "invited"], row

    # The same email again, an unknown role: a clear refusal and nothing written.
    again = staff_command(server, "staff", "add", "--email", email.upper(), "--name", "Lee Park")
    assert again.returncode == 1 and f"A staff account already uses {email}" in again.stderr
    wrong = staff_command(server, "staff", "add", "--email", unique_staff_email("x"), "--name", "X", "--role", "doctor")
    assert wrong.returncode == 2 and "invalid choice: 'doctor'" in wrong.stderr
    assert db["staff"].count_documents({"email": email}) == 1

    # A second staff member with the same email on a Practitioner is linked to that Practitioner.
    other = unique_staff_email("kim")
    created = admin.post("/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Kim"}],
                                                "telecom": [{"system": "email", "value": other}]},
                         headers={"Content-Type": "application/fhir+json"}).json()
    linked = staff_command(server, "staff", "add", "--email", other, "--name", "Dr Kim", "--role", "front-desk")
    assert f"linked to the existing Practitioner/{created['id']}" in linked.stdout
