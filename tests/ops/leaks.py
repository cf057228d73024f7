"""What must never be in a log: the demo patients' names, birth dates, contact details and
passwords (from the fixtures the demo loads), and tokens of any kind."""

from __future__ import annotations

import json
import re
from functools import cache

from fhir_server.demo import FIXTURES

# A JWT (access or id token, client assertion), a bearer header, a link token, a session cookie.
TOKEN_PATTERNS = [
    re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*"),
    re.compile(r"Bearer\s+[\w.~+/-]{8,}", re.IGNORECASE),
    re.compile(r"[?&]token=(?!\[redacted\])[\w-]{8,}"),
    re.compile(r"carespace_session=[\w-]{8,}"),
]


@cache
def demo_secrets() -> tuple[str, ...]:
    """Literal strings: birth dates, emails, phone numbers and passwords of the demo people."""
    found: set[str] = set()
    for account in json.loads((FIXTURES / "accounts.json").read_text()):
        found.update({account["email"], account["password"], account["birth_date"]})
    for person in _demo_people():
        found.update(t["value"] for t in person.get("telecom", []))
        if person.get("birthDate"):
            found.add(person["birthDate"])
    return tuple(sorted(found))


@cache
def demo_names() -> tuple[str, ...]:
    """Given and family names, matched as capitalised words (ids like ``jane-doe`` are not names)."""
    names: set[str] = set()
    for person in _demo_people():
        for name in person.get("name", []):
            names.update([*name.get("given", []), name.get("family", "")])
    return tuple(sorted(n for n in names if n))


def _demo_people() -> list[dict]:
    bundle = json.loads((FIXTURES / "practice.json").read_text())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] in ("Patient", "RelatedPerson")]


def find_leaks(text: str) -> list[str]:
    """Each leak as ``what: the line`` (cut short), for an assertion message."""
    leaks = []
    name_pattern = re.compile(r"\b(" + "|".join(map(re.escape, demo_names())) + r")\b")
    for line in text.splitlines():
        hits = [s for s in demo_secrets() if s in line]
        hits += name_pattern.findall(line)
        hits += [p.pattern for p in TOKEN_PATTERNS if p.search(line)]
        if hits:
            leaks.append(f"{sorted(set(hits))}: {line[:300]}")
    return leaks
