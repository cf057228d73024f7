"""Read by id through the one door: what a caller may learn of a resource by its id."""

from __future__ import annotations

from fhir_server.access import Caller, check_resource
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.store import Version
from fhir_server.services import Services


async def read_visible(services: Services, caller: Caller, resource_type: str, resource_id: str,
                       vid: int | None = None) -> Version:
    """Read (or vread) a resource and check the caller may see it. A deleted resource answers
    410 only to callers who could see what it was; others get 404, so that "gone" does not
    tell a patient that another patient's resource once existed."""
    store = services.store
    try:
        version = await (store.vread(resource_type, resource_id, vid) if vid
                         else store.read(resource_type, resource_id))
    except FhirError as exc:
        if exc.status == 410 and caller.patients is not None:
            last = await store.last_content(resource_type, resource_id)
            was = patient_compartments(last.resource, services.settings.fhir_base) if last and last.resource else []
            check_resource(caller, resource_type, resource_id, was, "r")
        raise
    assert version.resource is not None
    compartments = version.compartments  # as stored with the current version, else computed
    if compartments is None:
        compartments = patient_compartments(version.resource, services.settings.fhir_base)
    check_resource(caller, resource_type, resource_id, compartments, "r")
    return version
