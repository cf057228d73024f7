"""Patient compartment membership, computed at write time.

Implements the FHIR R4 CompartmentDefinition "Patient"
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html): for each
resource type, the search parameters whose references to a Patient put the
resource in that Patient's compartment.  A Patient is in its own compartment
(``{def}``) and, through ``link``, in the compartment of the Patients it links
to.  Only references to ``Patient/<id>`` on this server count: relative ones,
and absolute ones on ``base_url``.
"""

from __future__ import annotations

from functools import cache

from .definitions import params_for
from .extract import compile_path, walk

#: resource type -> names of the search parameters that link it to a Patient.
PATIENT_COMPARTMENT: dict[str, tuple[str, ...]] = {
    "Account": ("subject",),
    "AdverseEvent": ("subject",),
    "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Appointment": ("actor",),
    "AppointmentResponse": ("actor",),
    "AuditEvent": ("patient",),
    # Not in FHIR R4's definition: CareSpace puts a Binary in the compartment of the Patient its
    # securityContext names, so that document content is as private as the document itself.
    "Binary": (),
    "Basic": ("patient", "author"),
    "BodyStructure": ("patient",),
    "CarePlan": ("patient", "performer"),
    "CareTeam": ("patient", "participant"),
    "ChargeItem": ("subject",),
    "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",),
    "ClinicalImpression": ("subject",),
    "Communication": ("subject", "sender", "recipient"),
    "CommunicationRequest": ("subject", "sender", "recipient", "requester"),
    "Composition": ("subject", "author", "attester"),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "Coverage": ("policy-holder", "subscriber", "beneficiary", "payor"),
    "CoverageEligibilityRequest": ("patient",),
    "CoverageEligibilityResponse": ("patient",),
    "DetectedIssue": ("patient",),
    "DeviceRequest": ("subject", "performer"),
    "DeviceUseStatement": ("subject",),
    "DiagnosticReport": ("subject",),
    "DocumentManifest": ("subject", "author", "recipient"),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "EnrollmentRequest": ("subject",),
    "EpisodeOfCare": ("patient",),
    "ExplanationOfBenefit": ("patient", "payee"),
    "FamilyMemberHistory": ("patient",),
    "Flag": ("patient",),
    "Goal": ("patient",),
    "Group": ("member",),
    "ImagingStudy": ("patient",),
    "Immunization": ("patient",),
    "ImmunizationEvaluation": ("patient",),
    "ImmunizationRecommendation": ("patient",),
    "Invoice": ("subject", "patient", "recipient"),
    "List": ("subject", "source"),
    "MeasureReport": ("patient",),
    "Media": ("subject",),
    "MedicationAdministration": ("patient", "performer", "subject"),
    "MedicationDispense": ("subject", "patient", "receiver"),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "MolecularSequence": ("patient",),
    "NutritionOrder": ("patient",),
    "Observation": ("subject", "performer"),
    "Patient": ("link",),
    "Person": ("patient",),
    "Procedure": ("patient", "performer"),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("subject", "author"),
    "RelatedPerson": ("patient",),
    "RequestGroup": ("subject", "participant"),
    "ResearchSubject": ("individual",),
    "RiskAssessment": ("subject",),
    "Schedule": ("actor",),
    "ServiceRequest": ("subject", "performer"),
    "Specimen": ("subject",),
    "SupplyDelivery": ("patient",),
    "SupplyRequest": ("subject",),
    "VisionPrescription": ("patient",),
}


def in_compartment_types() -> frozenset[str]:
    """Resource types that can be in a Patient compartment."""
    return frozenset(PATIENT_COMPARTMENT)


@cache
def _paths(resource_type: str) -> tuple:
    params = params_for(resource_type)
    out = []
    for name in PATIENT_COMPARTMENT.get(resource_type, ()):
        p = params.get(name)
        if p is None:  # pragma: no cover - definitions cover every compartment param
            continue
        out.extend(compile_path(x) for x in p.paths)
    return tuple(out)


def patient_id_of(reference: str, base_url: str | None = None) -> str | None:
    """Return ``<id>`` if ``reference`` is ``Patient/<id>`` on this server, else ``None``."""
    if base_url and reference.startswith(base_url):
        reference = reference[len(base_url):].lstrip("/")
    if not reference.startswith("Patient/"):
        return None
    pid = reference[8:].split("/_history/", 1)[0]
    return pid if pid and "/" not in pid else None


def patient_compartments(resource: dict, base_url: str | None = None) -> list[str]:
    """Ids of the Patients whose compartment ``resource`` is in (sorted, unique)."""
    rtype = resource.get("resourceType", "")
    found: set[str] = set()
    if rtype == "Patient" and resource.get("id"):
        found.add(resource["id"])
    if rtype == "Binary":
        context = (resource.get("securityContext") or {}).get("reference")
        pid = patient_id_of(context, base_url) if type(context) is str else None
        if pid:
            found.add(pid)
    for segs in _paths(rtype):
        for v in walk(resource, segs):
            if type(v) is dict:
                r = v.get("reference")
                if type(r) is str:
                    pid = patient_id_of(r, base_url)
                    if pid:
                        found.add(pid)
    return sorted(found)
