"""A patient's access log in words: who (a named person, not a reference) did what, and when,
from the AuditEvents in their compartment. Names take one search per kind of agent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server.access import Caller, search_scope
from fhir_server.portal.invites import display_name
from fhir_server.portal.messages.threads import parse_instant
from fhir_server.portal.viewing import Viewing
from fhir_server.resources import search as search_engine
from fhir_server.services import Services

NAMED = ("Practitioner", "Patient", "RelatedPerson")
ACTIONS = {"C": "added", "R": "opened", "U": "changed", "D": "deleted", "E": "searched or exported"}
PLACES = {"portal": "in the portal", "search-type": "in a search", "read": "", "create": "", "update": "",
          "export": "(download)", "operation": ""}


@dataclass(frozen=True)
class Entry:
    when: datetime | None
    who: str
    role: str
    did: str
    what: str
    failed: bool


def _agent(event: dict[str, Any]) -> str:
    agents = event.get("agent") or []
    first = next((a for a in agents if a.get("requestor")), agents[0] if agents else {})
    return str((first.get("who") or {}).get("reference") or "")


async def _names(services: Services, caller: Caller, refs: set[str]) -> dict[str, str]:
    wanted: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        kind, _, rid = ref.partition("/")
        if kind in NAMED and rid:
            wanted[kind].add(rid)
    names: dict[str, str] = {}
    for kind, ids in wanted.items():
        bundle = await search_engine.search(services.db.db, kind, [("_id", ",".join(sorted(ids))), ("_count", "200")],
                                            base_url=services.settings.fhir_base, scope=search_scope(caller, kind))
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            names[f"{kind}/{resource['id']}"] = display_name(resource)
    return names


async def entries(services: Services, caller: Caller, view: Viewing, events: list[dict[str, Any]]) -> list[Entry]:
    refs = {_agent(e) for e in events}
    names = await _names(services, caller, refs)
    shown = []
    for event in events:
        ref = _agent(event)
        kind = ref.partition("/")[0]
        role = {"Practitioner": "care team", "Patient": "the patient" if ref == f"Patient/{view.patient_id}"
                else "another patient", "RelatedPerson": "family or caregiver", "Device": "app or system"}.get(kind, "")
        subtype = next((s.get("code") for s in event.get("subtype") or []), "")
        place = "in the practice console" if kind == "Practitioner" and subtype == "portal" else \
            PLACES.get(str(subtype), "")
        did = " ".join(p for p in (ACTIONS.get(str(event.get("action")), "accessed"), place) if p)
        what = sorted({str((e.get("what") or {}).get("reference", "")).partition("/")[0]
                       for e in event.get("entity") or []} - {"Patient", ""})
        shown.append(Entry(parse_instant(event.get("recorded")), names.get(ref) or ref or "unknown", role, did,
                           ", ".join(what) or "the record", event.get("outcome", "0") != "0"))
    return shown
