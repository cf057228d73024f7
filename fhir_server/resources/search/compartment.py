"""Patient compartment membership, computed at write time.

Implements the FHIR R4 CompartmentDefinition "Patient"
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html): for each
resource type, the search parameters whose references to a Patient put the
resource in that Patient's compartment.  A Patient is in its own compartment
(``{def}``) and, through ``link``, in the compartment of the Patients it links
to.  Only references to ``Patient/<id>`` on this server count: relative ones,
and absolute ones on ``base_url``.

The definition leaves out types that often hold patient data (Task.for,
Device.patient, a stored Bundle's entries, GuidanceResponse.subject…). A
resource of a type outside it is in the compartment of every Patient it
refers to anywhere; one that names no patient is visible to patient-side
callers only if its type is plain reference data (:data:`REFERENCE_DATA`).
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


#: Types that describe the practice, its catalogue and terminology rather than a patient. Outside
#: these and the CompartmentDefinition, a resource that names no patient is refused to every
#: patient-side caller: an unknown type is patient data until shown otherwise.
REFERENCE_DATA = frozenset({
    "ActivityDefinition", "AdministrableProductDefinition", "CapabilityStatement", "CatalogEntry",
    "ChargeItemDefinition", "Citation", "ClinicalUseDefinition", "CodeSystem", "CompartmentDefinition",
    "ConceptMap", "DeviceDefinition", "Endpoint", "EventDefinition", "Evidence", "EvidenceReport",
    "EvidenceVariable", "ExampleScenario", "GraphDefinition", "HealthcareService", "ImplementationGuide",
    "Ingredient", "InsurancePlan", "Library", "Location", "ManufacturedItemDefinition", "Measure",
    "Medication", "MedicationKnowledge", "MedicinalProductDefinition", "MessageDefinition", "NamingSystem",
    "NutritionProduct", "ObservationDefinition", "OperationDefinition", "Organization",
    "OrganizationAffiliation", "PackagedProductDefinition", "PlanDefinition", "Practitioner",
    "PractitionerRole", "Questionnaire", "RegulatedAuthorization", "ResearchDefinition",
    "ResearchElementDefinition", "ResearchStudy", "SearchParameter", "SpecimenDefinition",
    "StructureDefinition", "StructureMap", "Substance", "SubstanceDefinition", "SubscriptionTopic",
    "TerminologyCapabilities", "TestScript", "ValueSet",
})


def visible_to(patients: frozenset[str], resource_type: str, comp: list[str] | None,
               *, reference_data: bool = True) -> bool:
    """Whether a patient-side caller with these patients may see a resource with these compartments.

    A type of the CompartmentDefinition: in one of the caller's compartments. Any other type that
    names patients: only if it names none but the caller's (a Bundle of two patients' data is
    neither's alone). One that names no patient: only plain reference data.
    """
    if not comp:
        return reference_data and resource_type in REFERENCE_DATA
    if resource_type in PATIENT_COMPARTMENT:
        return not patients.isdisjoint(comp)
    return patients.issuperset(comp)


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
    if rtype not in PATIENT_COMPARTMENT:
        found.update(_patients_named(resource, base_url))
    for segs in _paths(rtype):
        for v in walk(resource, segs):
            if type(v) is dict:
                r = v.get("reference")
                if type(r) is str:
                    pid = patient_id_of(r, base_url)
                    if pid:
                        found.add(pid)
    return sorted(found)


def _patients_named(resource: dict, base_url: str | None) -> set[str]:
    """Every Patient a resource refers to anywhere (contained resources and a Bundle's entries
    included: their references, ``fullUrl``s and the Patients they carry)."""
    found: set[str] = set()
    stack: list[object] = [resource]
    while stack:  # iterative: a deep resource must not exhaust the interpreter's stack
        node = stack.pop()
        if type(node) is dict:
            for key in ("reference", "fullUrl"):
                value = node.get(key)
                if type(value) is str and (pid := patient_id_of(value, base_url)):
                    found.add(pid)
            if node is not resource and node.get("resourceType") == "Patient" and type(node.get("id")) is str:
                found.add(node["id"])
            stack.extend(v for v in node.values() if type(v) in (dict, list))
        elif type(node) is list:
            stack.extend(v for v in node if type(v) in (dict, list))
    return found
