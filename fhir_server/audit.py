"""Every access to patient data becomes an AuditEvent (who, what, which patient, outcome).

AuditEvents are FHIR resources in the AuditEvent collection, so back-end clients read them
through the API; the entity references put each one in its patients' compartments. They are
append-only and written once, without a copy in ``history`` (one write per request, not two):
read them by id or search; type and system history leave them out. The store writes them
through its group commit: many requests' events in one journaled ``insert_many``, each
request answering once the batch holding its event is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir_server.access import Caller
from fhir_server.resources.store import ResourceStore, instant

ACTIONS = {"create": "C", "read": "R", "vread": "R", "search-type": "E", "search-system": "E",
           "history-instance": "R", "history-type": "R", "update": "U", "patch": "U",
           "delete": "D", "operation": "E", "portal": "R", "export": "E"}
OUTCOMES = {"success": "0", "minor": "4", "serious": "8"}


async def record(store: ResourceStore, caller: Caller, interaction: str, *,
                 patients: Iterable[str], entities: Iterable[str] = (), outcome: str = "success",
                 description: str | None = None) -> None:
    """Write one AuditEvent. Only accesses that touch patients are audited."""
    patient_ids = sorted(set(patients))
    if not patient_ids and outcome == "success":
        return
    agent: dict[str, Any] = {"who": {"reference": caller.who()}, "requestor": True}
    if caller.client_id:
        agent["altId"] = caller.client_id
    agents = [agent]
    if caller.on_behalf_of:
        agents.append({"who": {"reference": f"Patient/{caller.on_behalf_of}"}, "requestor": False,
                       "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                            "code": "PAT", "display": "patient"}]}})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": ACTIONS.get(interaction, "E"),
        "recorded": instant(store.clock()),
        "outcome": OUTCOMES[outcome],
        "agent": agents,
        "source": {"observer": {"display": "CareSpace"}},
        "entity": [{"what": {"reference": f"Patient/{pid}"}} for pid in patient_ids]
        + [{"what": {"reference": ref}} for ref in dict.fromkeys(entities)][:50],
    }
    if description:
        event["outcomeDesc"] = description
    await store.append(event)
