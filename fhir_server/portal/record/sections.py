"""The record's sections as data: path, title, what loads them, and the page that shows them.
The section menu (``record/_nav.html``) and the routes are both built from this table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fhir_server.portal.record import allergies, care_team, immunizations, medications, problems, visits, vitals
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

Loader = Callable[[Services, Viewing], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    lead: str
    load: Loader

    @property
    def path(self) -> str:
        return f"/health/{self.slug}"

    @property
    def template(self) -> str:
        return f"record/{self.slug.replace('-', '_')}.html"


SECTIONS = (
    Section("problems", "Problems", "Health problems and diagnoses on record at", problems.load),
    Section("medications", "Medications", "Medicines prescribed or recorded by", medications.load),
    Section("allergies", "Allergies", "Allergies and intolerances recorded by", allergies.load),
    Section("immunizations", "Immunizations", "Vaccines on record at", immunizations.load),
    Section("vitals", "Vitals", "Blood pressure, weight and other measurements taken at", vitals.load),
    Section("visits", "Visits", "Upcoming appointments and past visits with", visits.load),
    Section("care-team", "Care team", "The care team at", care_team.load),
)

# The section menu: the Health overview (labs and documents) first, then each section.
MENU = (("/health", "Labs & documents"), *((s.path, s.title) for s in SECTIONS))
