"""What a caller may see through search: the access scope of one request.

Built by the access layer from the caller (patient, delegate, SMART scopes,
back-end client) and applied by the search engine inside the query plan, so a
scoped caller never sees, counts or pages through resources outside it.
SMART App Launch 2.x scopes (``patient/Observation.rs?category=laboratory``,
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html) map to
``types`` and ``restrictions``; the Patient compartment
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html) maps to
``patients``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchScope:
    """Access scope of one search.

    * ``patients``: ids of the Patients whose compartments are visible;
      ``None`` means all patients.
    * ``allow_non_compartment``: with ``patients`` set, whether resources in
      no patient compartment (Practitioner, Organization, Medication, …) are
      visible.
    * ``restrictions``: SMART v2 query restrictions per type; a resource of
      that type must match one of the listed parameter sets (each set is an
      AND of ``(param, value)`` pairs with ordinary search semantics).
    * ``types``: readable resource types; ``None`` means all.
    """

    patients: frozenset[str] | None = None
    restrictions: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)
    types: frozenset[str] | None = None
    allow_non_compartment: bool = False

    def __hash__(self) -> int:  # restrictions is a dict: hash the rest
        return hash((self.patients, self.types, self.allow_non_compartment))

    def type_allowed(self, resource_type: str) -> bool:
        """Whether resources of this type may be read at all."""
        return self.types is None or resource_type in self.types

    def comp_allowed(self, resource_type: str, comp: list[str] | None) -> bool:
        """Whether a stored document of this type with these compartments is visible.

        With ``patients`` set, the rule of :func:`.compartment.visible_to`: patient data only in
        the caller's compartments, and of what names no patient only plain reference data
        (Practitioner, Organization, Medication, …), and that only with ``allow_non_compartment``.
        """
        if self.patients is None:
            return True
        from .compartment import visible_to

        return visible_to(self.patients, resource_type, comp, reference_data=self.allow_non_compartment)


#: No restriction at all (practice administration, system scopes ``system/*.rs``).
UNRESTRICTED = SearchScope()
