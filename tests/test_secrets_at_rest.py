"""What the README's "Security in short" promises about secrets at rest: refresh, reset and
session tokens are kept as SHA-256 hashes, passwords as argon2id hashes, and the signing key
file is readable by its owner only."""

from __future__ import annotations

import hashlib
import json
import stat
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from fhir_server.db import ACCOUNTS, SESSIONS
from fhir_server.portal.links import LINKS
from fhir_server.smart.store import REFRESH_TOKENS
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.smart.helpers import add_client, exchange, make_code
from tests.support.mail import link_in
from tests.support.portal import form_post, registered_patient, sign_in


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def nowhere_in(db: Any, secret: str, *collections: str) -> None:
    for name in collections:
        for doc in db[name].find({}):
            assert secret not in json.dumps(doc, default=str), f"a secret is stored in the clear in {name}"


def test_refresh_tokens_are_stored_as_hashes(server: RunningServer, db: Any) -> None:
    client = add_client(server, "public")[0]
    code, verifier = make_code(server, client, "launch/patient offline_access patient/Patient.rs")
    tokens = exchange(server, client, code, verifier).json()
    stored = db[REFRESH_TOKENS].find_one({"_id": sha256(tokens["refresh_token"])})
    assert stored is not None and stored["authorization"]["client_id"] == client.client_id
    nowhere_in(db, tokens["refresh_token"], REFRESH_TOKENS)


def test_passwords_are_argon2id_and_reset_and_session_tokens_are_hashes(
        server: RunningServer, admin: httpx.Client, smtp: Mailbox, db: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Hashed")
    account = db[ACCOUNTS].find_one({"email": person.email})
    assert account["password_hash"].startswith("$argon2id$")
    assert person.password not in json.dumps(account, default=str)

    with sign_in(server, *person.credentials) as client:
        session = client.cookies["carespace_session"]
        assert db[SESSIONS].find_one({"_id": sha256(session)})["account_id"] == account["_id"]
        nowhere_in(db, session, SESSIONS)
        assert form_post(client, "/forgot-password", {"email": person.email}).status_code == 200
    link = link_in(smtp.wait_for(person.email, "Reset your"), "/reset-password")
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert db[LINKS].find_one({"_id": sha256(token)})["kind"] == "reset"
    nowhere_in(db, token, LINKS)


def test_the_signing_key_file_is_readable_by_its_owner_only(server: RunningServer) -> None:
    path = server.settings.data_dir / "keys" / "signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
