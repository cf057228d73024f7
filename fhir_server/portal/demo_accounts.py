"""The demo sign-in accounts (``serve --demo``): created once from ``fixtures/accounts.json``."""

from __future__ import annotations

import logging

from fhir_server.demo import demo_accounts
from fhir_server.portal import accounts, passwords
from fhir_server.portal.accounts import EmailInUse
from fhir_server.portal.invites import display_name
from fhir_server.resources.errors import FhirError
from fhir_server.services import Services

log = logging.getLogger("carespace.portal")


async def create_demo_accounts(services: Services) -> int:
    """Create the demo accounts that do not exist yet; returns how many were created."""
    created = 0
    now = services.store.clock()
    for entry in demo_accounts():
        if await accounts.find_by_email(services.db, entry["email"]):
            continue
        delegate = entry["kind"] == "delegate"
        try:
            person_type, person_id = ("RelatedPerson", entry["related_person"]) if delegate else \
                ("Patient", entry["patient"])
            resource = (await services.store.read(person_type, person_id)).resource or {}
        except FhirError:
            log.warning("demo account %s: its %s is not in the database; skipped", entry["email"], person_type)
            continue
        related = []
        if delegate:
            related = [{"patient": entry["patient"], "related_person": entry["related_person"],
                        "consent": entry.get("consent") or f"{entry['patient']}-consent-{entry['related_person']}"}]
        try:
            await accounts.create(
                services.db, email=entry["email"], password_hash=await passwords.hash_password(entry["password"]),
                birth_date=str(resource.get("birthDate") or entry["birth_date"]), name=display_name(resource),
                kind=entry["kind"], patient_id=None if delegate else entry["patient"], related_persons=related,
                now=now)
        except EmailInUse:
            continue
        created += 1
    return created


def accounts_table() -> str:
    """The demo accounts as a plain-text table (email, password, date of birth) for ``serve --demo``."""
    rows = [("Email", "Password", "Date of birth", "Signs in as")]
    for entry in demo_accounts():
        who = (f"{entry['related_person']} (family of {entry['patient']})" if entry["kind"] == "delegate"
               else entry["patient"])
        rows.append((entry["email"], entry["password"], entry["birth_date"], who))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
