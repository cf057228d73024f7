"""``carespace backup`` of a running server under write load, ``carespace restore`` into a fresh
data dir: every version, account, app and export file acknowledged before the backup began
is there, and the copy is one instant of the database (no version without its history)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from fhir_server import embedded_db
from fhir_server.embedded_db import free_port, running_uri
from tests.mailbox import Mailbox
from tests.support.serve import Serve, carespace

PASSWORD = "Backup-Check-2026!"


@dataclass(frozen=True)
class Write:
    id: str
    vid: str
    sent: float
    acked: float


class WriteLoad:
    """Threads that create Patients and update each twice, recording every acknowledged version."""

    def __init__(self, serve: Serve, threads: int = 3) -> None:
        self.token, self.url = serve.token(), serve.url
        self.acked: list[Write] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=f"{self.url}/fhir", timeout=60, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"}) as client:
            while not self.stop.is_set():
                body = {"resourceType": "Patient", "name": [{"family": f"Load{n}"}], "gender": "other"}
                sent = time.monotonic()
                created = client.post("/Patient", json=body)
                assert created.status_code == 201, created.text
                pid = created.json()["id"]
                self.acked.append(Write(pid, created.json()["meta"]["versionId"], sent, time.monotonic()))
                for gender in ("female", "male"):
                    sent = time.monotonic()
                    updated = client.put(f"/Patient/{pid}", json={**body, "id": pid, "gender": gender})
                    assert updated.status_code == 200, updated.text
                    self.acked.append(Write(pid, updated.json()["meta"]["versionId"], sent, time.monotonic()))

    def __enter__(self) -> WriteLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.acked) >= count, "the write load did not get going"


@pytest.fixture
def served(tmp_path: Path, smtp: Mailbox) -> Iterator[Serve]:
    serve = Serve(tmp_path / "original", free_port(), environment={"CARESPACE_SMTP_URL": smtp.url})
    yield serve
    serve.stop()


def _register(serve: Serve, smtp: Mailbox) -> dict[str, str]:
    """A patient account made the real way: invite, mail, link, password."""
    person = {"email": f"backup-{uuid.uuid4().hex[:8]}@example.net", "password": PASSWORD,
              "birth_date": "1974-03-09"}
    with serve.client() as api:
        patient = api.post("/Patient", json={"resourceType": "Patient", "birthDate": person["birth_date"],
                                             "name": [{"family": "Backup"}]}).json()["id"]
        invited = api.post(f"/Patient/{patient}/$invite", json={
            "resourceType": "Parameters", "parameter": [{"name": "email", "valueString": person["email"]}]})
        assert invited.status_code == 200, invited.text
    mail = smtp.wait_for(person["email"], "Complete your registration")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"https?://\S+/register\?token=[\w-]+", str(body.get_content()))
    assert link
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        assert browser.get(link.group(0)).url.path == "/register"
        registered = browser.post(f"{serve.url}/register", data={
            "password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": browser.cookies.get("carespace_csrf")})
        assert registered.url.path == "/health", registered.text  # registering signs the person in
    return person


def _export_files(client: httpx.Client) -> dict[str, str]:
    """A finished Patient export: {url: NDJSON text} (its files live in GridFS)."""
    kick = client.get("/$export", params={"_type": "Patient"},
                      headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"]
    deadline = time.monotonic() + 120
    while (status := client.get(status_url)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert status.status_code == 200, status.text
    return {o["url"]: client.get(o["url"]).text for o in status.json()["output"]}


def _sign_in(url: str, person: dict[str, str]) -> int:
    with httpx.Client(base_url=url, timeout=30) as browser:
        browser.get("/login")
        csrf = browser.cookies.get("carespace_csrf")
        return browser.post("/login", data={**person, "csrf_token": csrf}).status_code


def test_backup_under_write_load_restores_everything_acknowledged_before_it(served: Serve, tmp_path: Path,
                                                                             smtp: Mailbox) -> None:
    person = _register(served, smtp)
    app = carespace(served.data_dir, "clients", "add", "--name", "Backup check app", "--public",
                    "--redirect-uri", "https://app.example.org/callback")
    assert app.returncode == 0, app.stderr
    client_id = json.loads(app.stdout)["client_id"]
    with served.client() as api:
        exported = _export_files(api)
    assert exported and all("resourceType" in text for text in exported.values())
    backup_file = tmp_path / "carespace.backup"
    with WriteLoad(served) as load:
        load.wait_for(30)
        began = time.monotonic()
        result = carespace(served.data_dir, "backup", str(backup_file))
        ended = time.monotonic()
        load.wait_for(len(load.acked) + 10)  # writes go on after the backup
    assert result.returncode == 0, result.stderr
    assert "Backed up" in result.stdout and "signing key is not in the backup" in result.stdout
    assert backup_file.stat().st_mode & 0o777 == 0o600
    # The default: one snapshot transaction, gzip-compressed BSON; requests went on meanwhile.
    assert not tarfile.is_tarfile(backup_file)
    with gzip.open(backup_file) as raw:
        assert raw.read(64)
    before = [w for w in load.acked if w.acked < began]
    after = [w for w in load.acked if w.sent > ended]
    assert len(before) >= 30 and after

    fresh = tmp_path / "restored"
    restored = carespace(fresh, "restore", str(backup_file))
    assert restored.returncode == 0, restored.stderr
    assert "Restored" in restored.stdout and "another signing key" in restored.stdout
    again = carespace(fresh, "restore", str(backup_file))
    assert again.returncode == 1 and "already holds data" in again.stderr and "Traceback" not in again.stderr

    copy = Serve(fresh, free_port())
    try:
        with copy.client() as api:
            for write in before:
                version = api.get(f"/Patient/{write.id}/_history/{write.vid}")
                assert version.status_code == 200, (write, version.text)
                assert version.json()["meta"]["versionId"] == write.vid
            for write in after:
                assert api.get(f"/Patient/{write.id}/_history/{write.vid}").status_code in (404, 410), write
            assert {url.split("/fhir", 1)[1]: api.get(url.split("/fhir", 1)[1]).text
                    for url in exported} == {url.split("/fhir", 1)[1]: text for url, text in exported.items()}
        listed = carespace(fresh, "clients", "list")
        assert client_id in listed.stdout
        assert _sign_in(copy.url, person) == 303  # the account (password hash, birth date) came back
        uri = running_uri(fresh)
        assert uri
        with MongoClient(uri) as mongo:
            db = mongo["carespace"]
            # One instant. The store writes a version's current document, then its history entry
            # (two writes), so only the writes in flight at that instant -- one per writer
            # thread -- may have a current version without its history yet. A copy read
            # collection by collection would instead hold history newer than the current versions.
            current = {d["_id"]: d["vid"] for d in db.Patient.find({}, {"vid": 1})}
            latest: dict[str, int] = {}
            for d in db.history.find({"t": "Patient"}, {"id": 1, "vid": 1}):
                latest[d["id"]] = max(d["vid"], latest.get(d["id"], 0))
            assert all(pid in current and vid <= current[pid] for pid, vid in latest.items())
            in_flight = [pid for pid, vid in current.items() if latest.get(pid, 0) != vid]
            assert len(in_flight) <= len(load.threads)
            assert all(latest.get(pid, 0) == current[pid] - 1 for pid in in_flight)
    finally:
        copy.stop()


def test_restore_refuses_a_damaged_or_foreign_file(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a backup")
    result = carespace(tmp_path / "var", "restore", str(foreign))
    assert result.returncode == 1 and "damaged or incomplete" in result.stderr
    assert not (tmp_path / "var" / "db").exists(), "nothing is started or written for a bad file"


def _one_sentence(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result.stdout
    assert words in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_bad_backup_and_restore_input_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "source"
    app = carespace(source, "clients", "add", "--name", "Refusal check", "--public",
                    "--redirect-uri", "https://app.example.org/callback")
    assert app.returncode == 0, app.stderr
    _one_sentence(carespace(source, "backup", str(tmp_path / "no-such-dir" / "x.backup")), "is not a directory")
    # The checkpoint archive (for a maintenance window): the database's files behind a header.
    backup_file = tmp_path / "good.backup"
    archived = carespace(source, "backup", "--archive", str(backup_file))
    assert archived.returncode == 0 and "one checkpoint" in archived.stdout, archived.stderr
    with tarfile.open(backup_file) as outer:
        assert outer.getnames() == ["carespace-backup.json", "database.tar.gz"]
        header = json.loads(outer.extractfile("carespace-backup.json").read())  # type: ignore[union-attr]
        assert header["kind"] == "embedded"
    _one_sentence(carespace(source, "backup", str(backup_file)), "already exists")
    logical = carespace(source, "backup", str(tmp_path / "logical.backup"))
    assert logical.returncode == 0 and re.search(r"Backed up [1-9]\d* documents", logical.stdout), logical.stderr

    target = tmp_path / "target"
    _one_sentence(carespace(target, "restore", str(tmp_path / "missing.backup")), "is not a file")
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backup_file.read_bytes()[: backup_file.stat().st_size // 2])
    _one_sentence(carespace(target, "restore", str(truncated)), "damaged or incomplete")
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(backup_file, arcname="something-else")
    _one_sentence(carespace(target, "restore", str(foreign)), "damaged or incomplete")
    assert not (target / "db").exists() or not any((target / "db").iterdir()), "nothing was written"
    # The source's own data dir already holds a database: refused, untouched.
    _one_sentence(carespace(source, "restore", str(backup_file)), "already holds data")
    assert json.loads(app.stdout)["client_id"] in carespace(source, "clients", "list").stdout


def test_mongodb_deployments_back_up_logically_and_take_an_embedded_archive(tmp_path: Path) -> None:
    """MONGODB_URI: a second SecantusDB stands in for MongoDB (the client code path is the same)."""
    mongo = embedded_db.start(tmp_path / "mongo", record=False)
    try:
        on_mongo = {"MONGODB_URI": mongo.uri}
        source = tmp_path / "source"
        app = carespace(source, "clients", "add", "--name", "Migrated app", "--public",
                        "--redirect-uri", "https://app.example.org/callback")
        client_id = json.loads(app.stdout)["client_id"]
        archive_file = tmp_path / "embedded.backup"
        assert carespace(source, "backup", "--archive", str(archive_file)).returncode == 0
        # The embedded archive goes into MongoDB (through a private SecantusDB) ...
        into_mongo = carespace(tmp_path / "mongo-side", "restore", str(archive_file), environment=on_mongo)
        assert into_mongo.returncode == 0, into_mongo.stderr
        assert re.search(r"Restored [1-9]\d* documents", into_mongo.stdout), into_mongo.stdout
        assert client_id in carespace(tmp_path / "mongo-side", "clients", "list", environment=on_mongo).stdout
        again = carespace(tmp_path / "mongo-side", "restore", str(archive_file), environment=on_mongo)
        _one_sentence(again, "already holds data")
        # ... and MongoDB's logical backup comes back into a new embedded data dir.
        logical = tmp_path / "logical.backup"
        made = carespace(tmp_path / "mongo-side", "backup", str(logical), environment=on_mongo)
        assert made.returncode == 0 and re.search(r"Backed up [1-9]\d* documents", made.stdout), made.stderr
        with gzip.open(logical) as raw:
            assert raw.read(64)  # the logical format: a gzip stream of BSON records
        back = carespace(tmp_path / "back", "restore", str(logical))
        assert back.returncode == 0, back.stderr
        assert client_id in carespace(tmp_path / "back", "clients", "list").stdout
    finally:
        mongo.stop()
