"""The patient's messages in and out of the FHIR engine, always as the caller in view.

Reads are searches in the Patient compartment under the caller's search scope; writes pass
the one door (``check_write``) and the shared reply rules (``messaging.check_communication``)
before the store. Nothing here renders: the routes do.
"""

from __future__ import annotations

from typing import Any

from fhir_server import audit, messaging
from fhir_server.access import check_write, search_scope
from fhir_server.portal.messages import threads
from fhir_server.portal.messages.threads import Message
from fhir_server.portal.viewing import Viewing
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.search.execute import every_page
from fhir_server.resources.store import instant
from fhir_server.resources.validation import validate
from fhir_server.services import Services

NAMED_TYPES = ("Practitioner", "PractitionerRole", "Organization", "CareTeam", "RelatedPerson", "Patient")
NO_CARE_TEAM = ("We could not find a care team to send this to. Please call the practice, or email "
                "{email}.")


async def _search_all(services: Services, view: Viewing, resource_type: str, params: list[tuple[str, str]],
                      *, compartment: bool = True) -> list[dict[str, Any]]:
    """Every match (a patient's messages run to tens, not thousands)."""
    return [resource async for page in every_page(
                services.db.db, resource_type, params, base_url=services.settings.fhir_base,
                scope=search_scope(view.caller, resource_type), page_size=200,
                compartment=("Patient", view.patient_id) if compartment else None)
            for resource in page]


async def _names(services: Services, view: Viewing, comms: list[dict[str, Any]]) -> dict[str, str]:
    """Display names for senders that carry no ``display`` (messages the EHR wrote tersely)."""
    base = services.settings.fhir_base
    wanted: dict[str, set[str]] = {}
    for comm in comms:
        if not (comm.get("sender") or {}).get("display"):
            kind, _, rid = threads.sender_of(comm, base).partition("/")
            if kind in NAMED_TYPES and rid:
                wanted.setdefault(kind, set()).add(rid)
    names: dict[str, str] = {}
    for kind, ids in wanted.items():
        for res in await _search_all(services, view, kind, [("_id", ",".join(sorted(ids)))], compartment=False):
            names[f"{kind}/{res['id']}"] = _display(res)
    return names


def _display(resource: dict[str, Any]) -> str:
    if isinstance(resource.get("name"), str):
        return str(resource["name"])
    for name in resource.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(p for p in parts if p)
    return ""


async def load(services: Services, view: Viewing) -> list[Message]:
    """Every message in the patient's record (to, from and about them)."""
    comms = await _search_all(services, view, "Communication", [("_sort", "-sent")])
    comms = [c for c in comms if c.get("status") != "entered-in-error"]
    names = await _names(services, view, comms)
    return [threads.to_message(c, view.patient_id, names, services.settings.fhir_base) for c in comms]


async def mark_read(services: Services, view: Viewing, message: Message) -> bool:
    """Record that the patient side opened a practice message (a new version with ``received``)."""
    current = await services.store.find_current("Communication", message.id)
    if current is None or current.resource is None or current.resource.get("received"):
        return False
    resource = {**current.resource, "received": instant(services.store.clock())}
    check_write(view.caller, "Communication", patient_compartments(resource, services.settings.fhir_base), "u")
    try:
        await services.store.update(resource, message.id, if_match=current.vid)
    except FhirError:
        return False  # changed meanwhile (perhaps read in another tab): it stays unread until next time
    await audit.record(services.store, view.caller, "update", patients=[view.patient_id],
                       entities=[f"Communication/{message.id}"])
    return True


async def care_team(services: Services, view: Viewing) -> dict[str, Any]:
    """Where the patient's messages go: their active CareTeam, else the practice Organization."""
    teams = await _search_all(services, view, "CareTeam", [("patient", view.patient_id), ("status", "active")])
    if teams:
        return {"reference": f"CareTeam/{teams[0]['id']}", "display": teams[0].get("name") or "Care team"}
    org = (view.patient.get("managingOrganization") or {}).get("reference")
    if org:
        return {"reference": org, "display": services.settings.practice_name}
    orgs = await _search_all(services, view, "Organization", [("name", services.settings.practice_name)],
                             compartment=False)
    if orgs:
        return {"reference": f"Organization/{orgs[0]['id']}", "display": _display(orgs[0])}
    raise FhirError(422, "not-found", NO_CARE_TEAM.format(email=services.settings.practice_email))


async def send(services: Services, view: Viewing, *, category: str, subject: str, body: str,
               reply_to: Message | None = None) -> str:
    """Store a message from the patient side to the care team; returns its id. A refused reply
    raises ``FhirError`` with the reason, before anything is stored."""
    base = services.settings.fhir_base
    sender_ref = view.caller.fhir_user or f"Patient/{view.patient_id}"
    sender_name = view.account.name if view.is_delegate else view.patient_name
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [threads.category_concept(category)],
        "subject": {"reference": f"Patient/{view.patient_id}", "display": view.patient_name},
        "topic": {"text": subject},
        "sent": instant(services.store.clock()),
        "recipient": [await care_team(services, view)],
        "sender": {"reference": sender_ref, "display": sender_name},
        "payload": [{"contentString": body}],
    }
    if reply_to is not None:
        resource["inResponseTo"] = [{"reference": f"Communication/{reply_to.id}"}]
        resource["category"] = reply_to.resource.get("category") or resource["category"]
        resource["topic"] = reply_to.resource.get("topic") or resource["topic"]
    resource = validate(resource, "Communication")
    check_write(view.caller, "Communication", patient_compartments(resource, base), "c")
    await messaging.check_communication(services, view.caller, resource, "c")
    # A reply's id is derived from its message: two replies sent at once cannot both be stored.
    reply_id = f"{reply_to.id}-reply" if reply_to is not None and len(reply_to.id) <= 58 else None
    version = await services.store.create(resource, resource_id=reply_id)
    return version.id
