"""Care team: the people on the patient's active CareTeams with their role, and how to reach
the practice behind them (the Organizations' phone, email and address, read by id in one
search), next to the portal's own way: a message to the care team."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import search_all
from fhir_server.portal.record.common import ids_of, read_many, reference_name
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

SHOWN = {"active", "proposed", "suspended", ""}
CONTACT_KINDS = {"phone": "Phone", "email": "Email", "fax": "Fax", "url": "Web"}


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    organization: str


@dataclass
class Team:
    id: str
    name: str
    members: list[Member] = field(default_factory=list)


@dataclass(frozen=True)
class Practice:
    name: str
    contacts: list[tuple[str, str, str]]  # (label, value, href)
    address: str


def to_team(resource: dict[str, Any]) -> Team:
    team = Team(id=str(resource.get("id")), name=str(resource.get("name") or "Care team"))
    for participant in resource.get("participant", []):
        name = reference_name(participant.get("member"))
        if not name:
            continue
        role = ", ".join(t for t in (concept_text(r) for r in participant.get("role", [])) if t)
        team.members.append(Member(name=name, role=role, organization=reference_name(participant.get("onBehalfOf"))))
    return team


def contact_href(system: str, value: str) -> str:
    if system == "phone":
        return "tel:" + "".join(c for c in value if c.isdigit() or c == "+")
    if system == "email":
        return f"mailto:{value}"
    return value if system == "url" and value.startswith(("https://", "http://")) else ""


def to_practice(organization: dict[str, Any]) -> Practice:
    contacts = [(CONTACT_KINDS[t["system"]], str(t["value"]), contact_href(t["system"], str(t["value"])))
                for t in organization.get("telecom", []) if t.get("system") in CONTACT_KINDS and t.get("value")]
    addresses = organization.get("address", [])
    address = ""
    if addresses:
        first = addresses[0]
        parts = [*first.get("line", []), first.get("city"), first.get("state"), first.get("postalCode")]
        address = str(first.get("text") or ", ".join(str(p) for p in parts if p))
    return Practice(name=str(organization.get("name") or ""), contacts=contacts, address=address)


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    resources = [r async for r in search_all(services, view, "CareTeam", []) if r.get("status", "") in SHOWN]
    teams = [t for t in (to_team(r) for r in resources) if t.members]
    refs = [r.get("managingOrganization", [None])[0] if r.get("managingOrganization") else None for r in resources]
    refs += [p.get("onBehalfOf") for r in resources for p in r.get("participant", [])]
    refs += [p.get("member") for r in resources for p in r.get("participant", [])]
    organizations = await read_many(services, view, "Organization", ids_of(refs, "Organization"))
    practices = [to_practice(o) for o in organizations.values()]
    return {"teams": teams, "practices": [p for p in practices if p.name],
            "entities": [f"CareTeam/{t.id}" for t in teams] + [f"Organization/{i}" for i in organizations]}
