"""The record sections' pages, one GET route per section of ``SECTIONS``: read through the
one door for the patient in view, audited once per page with what it showed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server import audit
from fhir_server.portal.pages import render
from fhir_server.portal.record.sections import SECTIONS, Section
from fhir_server.portal.sessions import services_of
from fhir_server.portal.viewing import Viewing, ViewingDep

router = APIRouter()


def _page(section: Section) -> Callable[[Request, Viewing], Awaitable[Response]]:
    async def page(request: Request, view: ViewingDep) -> Response:
        services = services_of(request)
        context = await section.load(services, view)
        await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                           entities=context.pop("entities"), description=f"Health record: {section.title}")
        return render(request, section.template, active="health", title=section.title, view=view,
                      section=section, current_path=section.path, **context)

    page.__name__ = f"record_{section.slug.replace('-', '_')}"
    return page


for _section in SECTIONS:
    router.add_api_route(_section.path, _page(_section), methods=["GET"])
