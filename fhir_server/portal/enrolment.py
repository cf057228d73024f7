"""Turning two-step sign-in on and off for a portal account (patient or family member).

Turning on is two requests: a new secret is kept sealed on the account as ``two_step_setup``
while the person scans the QR code; their first code proves the app has it, and only then is
the ``two_step`` enrolment written (with that code's step used up, so it cannot sign in again)
and ten recovery codes shown, once. Turning off needs the password and a current code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir_server import two_step
from fhir_server.db import ACCOUNTS, Database
from fhir_server.two_step import SecretBox


async def state(db: Database, account_id: str) -> dict[str, Any]:
    doc = await db[ACCOUNTS].find_one({"_id": account_id},
                                      projection={"two_step": 1, "two_step_setup": 1, "notices": 1})
    return doc or {}


async def start(db: Database, box: SecretBox, account_id: str, now: datetime) -> None:
    """A fresh secret for the set-up page (a restart replaces an unfinished one)."""
    await db[ACCOUNTS].update_one({"_id": account_id, "two_step.secret": None},
                                  {"$set": {"two_step_setup": {"secret": box.seal(two_step.new_secret()),
                                                               "created": now}}})


def setup_secret(box: SecretBox, doc: dict[str, Any]) -> str | None:
    sealed = (doc.get("two_step_setup") or {}).get("secret")
    return box.open(sealed) if sealed else None


async def confirm(db: Database, box: SecretBox, account_id: str, code: str, now: datetime) -> list[str] | None:
    """The recovery codes when ``code`` matches the set-up secret (two-step is then on), else None."""
    secret = setup_secret(box, await state(db, account_id))
    step = two_step.matching_step(secret, code) if secret else None
    if secret is None or step is None:
        return None
    codes = two_step.new_recovery_codes()
    enrolled = {**two_step.enrolment(box, secret, codes, now), "last_step": step}
    result = await db[ACCOUNTS].update_one({"_id": account_id, "two_step.secret": None,
                                            "two_step_setup": {"$exists": True}},
                                           {"$set": {"two_step": enrolled}, "$unset": {"two_step_setup": ""}})
    return codes if result.modified_count == 1 else None


async def turn_off(db: Database, account_id: str) -> None:
    await db[ACCOUNTS].update_one({"_id": account_id}, {"$unset": {"two_step": "", "two_step_setup": ""}})
