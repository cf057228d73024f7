"""The shared TOTP core (fhir_server/two_step.py) against the real database: a code is accepted
once, a neighbouring step is accepted for clock drift, recovery codes are single-use, and the
secret is stored sealed. The portal's and the console's sign-in flows have their own browser tests."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from pymongo import AsyncMongoClient, MongoClient

from fhir_server import two_step
from fhir_server.smart import keys
from tests.threaded import run_coroutine


def run_accept(uri: str, db_name: str, account_id: str, box: two_step.SecretBox, code: str) -> bool:
    async def go() -> bool:
        client: AsyncMongoClient = AsyncMongoClient(uri)
        try:
            return await two_step.accept(client[db_name]["two_step_test"], account_id, box, code)
        finally:
            await client.close()
    return run_coroutine(go())  # the session's Playwright may hold this thread's loop


def test_codes_and_recovery_codes_are_single_use(mongo: MongoClient, mongo_uri: str, tmp_path: Path) -> None:
    box = two_step.SecretBox.from_signing_key(keys.load_or_create(tmp_path))
    secret, recovery = two_step.new_secret(), two_step.new_recovery_codes()
    account_id, db_name = uuid.uuid4().hex, "two_step_test"
    collection = mongo[db_name]["two_step_test"]
    collection.insert_one({"_id": account_id, "two_step": two_step.enrolment(box, secret, recovery, datetime.now(UTC))})

    stored = json.dumps(collection.find_one({"_id": account_id}), default=str)
    assert secret not in stored and recovery[0] not in stored
    assert len(set(recovery)) == two_step.RECOVERY_CODES

    earlier = two_step.current_code(secret, time.time() - 30)
    now = two_step.current_code(secret)
    assert not run_accept(mongo_uri, db_name, account_id, box, "000000" if now != "000000" else "111111")
    assert not run_accept(mongo_uri, db_name, account_id, box, "12345")  # not a code at all
    # A code from the step before is accepted (clock drift), then never again, nor any older one.
    if earlier != now:
        assert run_accept(mongo_uri, db_name, account_id, box, earlier)
        assert not run_accept(mongo_uri, db_name, account_id, box, earlier)
    assert run_accept(mongo_uri, db_name, account_id, box, now)
    assert not run_accept(mongo_uri, db_name, account_id, box, now)

    assert run_accept(mongo_uri, db_name, account_id, box, recovery[3].upper())
    assert not run_accept(mongo_uri, db_name, account_id, box, recovery[3])
    assert len(collection.find_one({"_id": account_id})["two_step"]["recovery"]) == two_step.RECOVERY_CODES - 1


def test_qr_code_is_drawn_here_and_names_the_account() -> None:
    secret = two_step.new_secret()
    uri = two_step.provisioning_uri(secret, "jane@example.com", "CareSpace")
    assert uri.startswith("otpauth://totp/CareSpace:jane%40example.com?secret=" + secret)
    svg = two_step.qr_svg(uri)
    assert svg.startswith("<svg") and "http" not in svg.replace("http://www.w3.org", "")


def test_a_sealed_secret_opens_only_under_its_own_key(tmp_path: Path) -> None:
    box = two_step.SecretBox.from_signing_key(keys.load_or_create(tmp_path / "a"))
    other = two_step.SecretBox.from_signing_key(keys.load_or_create(tmp_path / "b"))
    sealed = box.seal("JBSWY3DPEHPK3PXP")
    assert box.open(sealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        other.open(sealed)
