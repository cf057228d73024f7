"""FHIR R4 (4.0.1) search parameters as data.

Source: the search parameter tables of each resource page of FHIR R4 and the
common parameters of https://hl7.org/fhir/R4/search.html#all ("Parameters for
all resources"), with the US Core 3.1+/6+ parameters checked against
https://hl7.org/fhir/us/core/search-parameters.html.

Every FHIRPath expression is written here as a short list of dotted element
paths with choice types resolved (``Observation.effective[x]`` becomes
``effectiveDateTime``, ``effectivePeriod``, ``effectiveInstant``), because the
write path walks these paths with a tiny hand-written walker
(:mod:`.extract`) instead of evaluating FHIRPath on every write.

Two small extensions of dotted paths cover the ``where()`` filters that matter:

* ``telecom[system=email]`` keeps the elements whose ``system`` is ``email``
  (``Patient.telecom.where(system='email')``);
* the ``targets`` of a reference parameter play the role of
  ``where(resolve() is Patient)``: only references to those types are indexed.

Composite parameters (search.html#composite) are in :mod:`.composite`; ``_has`` in :mod:`.has`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Parameter types handled by the engine (search.html#ptypes).
PARAM_TYPES = frozenset({"token", "reference", "date", "string", "quantity", "number", "uri", "special"})


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter of one resource type.

    ``paths`` are dotted element paths relative to the resource root; each
    segment may carry one ``[field=value]`` filter.  ``targets`` restricts a
    reference parameter to those resource types (empty = any).
    """

    name: str
    type: str
    paths: tuple[str, ...]
    targets: frozenset[str] = field(default_factory=frozenset)


# name type path|path [Target,Target]
_COMMON = """
_id special id
_lastUpdated date meta.lastUpdated
_tag token meta.tag
_profile uri meta.profile
_security token meta.security
_source uri meta.source
"""

# Reusable blocks.
_ADDRESS = """
address string address
address-city string address.city
address-country string address.country
address-postalcode string address.postalCode
address-state string address.state
address-use token address.use
"""
_TELECOM = """
email token telecom[system=email]
phone token telecom[system=phone]
telecom token telecom
"""

_DEFS: dict[str, str] = {
    "Patient": _ADDRESS + _TELECOM + """
active token active
birthdate date birthDate
death-date date deceasedDateTime
deceased token deceasedBoolean
family string name.family
gender token gender
general-practitioner reference generalPractitioner [Practitioner,Organization,PractitionerRole]
given string name.given
identifier token identifier
language token communication.language
link reference link.other [Patient,RelatedPerson]
name string name
organization reference managingOrganization [Organization]
""",
    "Observation": """
based-on reference basedOn
category token category
code token code
combo-code token code|component.code
combo-data-absent-reason token dataAbsentReason|component.dataAbsentReason
combo-value-concept token valueCodeableConcept|component.valueCodeableConcept
combo-value-quantity quantity valueQuantity|component.valueQuantity
component-code token component.code
component-data-absent-reason token component.dataAbsentReason
component-value-concept token component.valueCodeableConcept
component-value-quantity quantity component.valueQuantity
data-absent-reason token dataAbsentReason
date date effectiveDateTime|effectivePeriod|effectiveInstant|effectiveTiming.event
derived-from reference derivedFrom
device reference device
encounter reference encounter [Encounter]
focus reference focus
has-member reference hasMember
identifier token identifier
method token method
part-of reference partOf
patient reference subject [Patient]
performer reference performer
specimen reference specimen
status token status
subject reference subject
value-concept token valueCodeableConcept
value-date date valueDateTime|valuePeriod
value-quantity quantity valueQuantity
value-string string valueString
""",
    "DiagnosticReport": """
based-on reference basedOn
category token category
code token code
conclusion token conclusionCode
date date effectiveDateTime|effectivePeriod
encounter reference encounter [Encounter]
identifier token identifier
issued date issued
media reference media.link
patient reference subject [Patient]
performer reference performer
result reference result
results-interpreter reference resultsInterpreter
specimen reference specimen
status token status
subject reference subject
""",
    "DocumentReference": """
authenticator reference authenticator
author reference author
category token category
contenttype token content.attachment.contentType
custodian reference custodian
date date date
description string description
encounter reference context.encounter
event token context.event
facility token context.facilityType
format token content.format
identifier token masterIdentifier|identifier
language token content.attachment.language
location uri content.attachment.url
patient reference subject [Patient]
period date context.period
related reference context.related
relatesto reference relatesTo.target
relation token relatesTo.code
security-label token securityLabel
setting token context.practiceSetting
status token status
subject reference subject
type token type
""",
    "Condition": """
abatement-date date abatementDateTime|abatementPeriod
abatement-string string abatementString
asserter reference asserter
body-site token bodySite
category token category
clinical-status token clinicalStatus
code token code
encounter reference encounter [Encounter]
evidence token evidence.code
evidence-detail reference evidence.detail
identifier token identifier
onset-date date onsetDateTime|onsetPeriod
onset-info string onsetString
patient reference subject [Patient]
recorded-date date recordedDate
severity token severity
stage token stage.summary
subject reference subject
verification-status token verificationStatus
""",
    "Encounter": """
account reference account
appointment reference appointment
based-on reference basedOn
class token class
date date period
diagnosis reference diagnosis.condition
episode-of-care reference episodeOfCare
identifier token identifier
location reference location.location
location-period date location.period
part-of reference partOf
participant reference participant.individual
participant-type token participant.type
patient reference subject [Patient]
practitioner reference participant.individual [Practitioner]
reason-code token reasonCode
reason-reference reference reasonReference
service-provider reference serviceProvider [Organization]
special-arrangement token hospitalization.specialArrangement
status token status
subject reference subject
type token type
""",
    "Procedure": """
based-on reference basedOn
category token category
code token code
date date performedDateTime|performedPeriod
encounter reference encounter [Encounter]
identifier token identifier
instantiates-canonical reference instantiatesCanonical
instantiates-uri uri instantiatesUri
location reference location
part-of reference partOf
patient reference subject [Patient]
performer reference performer.actor
reason-code token reasonCode
reason-reference reference reasonReference
status token status
subject reference subject
""",
    "MedicationRequest": """
authoredon date authoredOn
category token category
code token medicationCodeableConcept
date date dosageInstruction.timing.event
encounter reference encounter [Encounter]
identifier token identifier
intended-dispenser reference dispenseRequest.performer
intended-performer reference performer
intended-performertype token performerType
intent token intent
medication reference medicationReference
patient reference subject [Patient]
priority token priority
requester reference requester
status token status
subject reference subject
""",
    "MedicationStatement": """
category token category
code token medicationCodeableConcept
context reference context
effective date effectiveDateTime|effectivePeriod
identifier token identifier
medication reference medicationReference
part-of reference partOf
patient reference subject [Patient]
source reference informationSource
status token status
subject reference subject
""",
    "MedicationAdministration": """
code token medicationCodeableConcept
context reference context
effective-time date effectiveDateTime|effectivePeriod
identifier token identifier
medication reference medicationReference
patient reference subject [Patient]
performer reference performer.actor
request reference request
status token status
subject reference subject
""",
    "MedicationDispense": """
code token medicationCodeableConcept
identifier token identifier
medication reference medicationReference
patient reference subject [Patient]
performer reference performer.actor
prescription reference authorizingPrescription
receiver reference receiver
status token status
subject reference subject
whenhandedover date whenHandedOver
whenprepared date whenPrepared
""",
    "Immunization": """
date date occurrenceDateTime
identifier token identifier
location reference location
lot-number string lotNumber
manufacturer reference manufacturer
patient reference patient [Patient]
performer reference performer.actor
reaction reference reaction.detail
reaction-date date reaction.date
reason-code token reasonCode
reason-reference reference reasonReference
series string protocolApplied.series
status token status
status-reason token statusReason
target-disease token protocolApplied.targetDisease
vaccine-code token vaccineCode
""",
    "AllergyIntolerance": """
asserter reference asserter
category token category
clinical-status token clinicalStatus
code token code|reaction.substance
criticality token criticality
date date recordedDate
identifier token identifier
last-date date lastOccurrence
manifestation token reaction.manifestation
onset date reaction.onset
patient reference patient [Patient]
recorder reference recorder
route token reaction.exposureRoute
severity token reaction.severity
type token type
verification-status token verificationStatus
""",
    "Practitioner": _ADDRESS + _TELECOM + """
active token active
communication token communication
family string name.family
gender token gender
given string name.given
identifier token identifier
name string name
""",
    "PractitionerRole": _TELECOM + """
active token active
date date period
endpoint reference endpoint
identifier token identifier
location reference location
organization reference organization [Organization]
practitioner reference practitioner [Practitioner]
role token code
service reference healthcareService
specialty token specialty
""",
    "Organization": _ADDRESS + """
active token active
endpoint reference endpoint
identifier token identifier
name string name|alias
partof reference partOf [Organization]
type token type
""",
    "CareTeam": """
category token category
date date period
encounter reference encounter [Encounter]
identifier token identifier
participant reference participant.member
patient reference subject [Patient]
status token status
subject reference subject
""",
    "Communication": """
based-on reference basedOn
category token category
encounter reference encounter [Encounter]
identifier token identifier
in-response-to reference inResponseTo [Communication]
instantiates-canonical reference instantiatesCanonical
instantiates-uri uri instantiatesUri
medium token medium
part-of reference partOf
patient reference subject [Patient]
received date received
recipient reference recipient
sender reference sender
sent date sent
status token status
subject reference subject
topic token topic
""",
    "CommunicationRequest": """
authored date authoredOn
category token category
encounter reference encounter [Encounter]
identifier token identifier
patient reference subject [Patient]
recipient reference recipient
requester reference requester
sender reference sender
status token status
subject reference subject
""",
    "RelatedPerson": _ADDRESS + _TELECOM + """
active token active
birthdate date birthDate
family string name.family
gender token gender
given string name.given
identifier token identifier
name string name
patient reference patient [Patient]
relationship token relationship
""",
    "Consent": """
action token provision.action
actor reference provision.actor.reference
category token category
consentor reference performer
data reference provision.data.reference
date date dateTime
identifier token identifier
organization reference organization [Organization]
patient reference patient [Patient]
period date provision.period
purpose token provision.purpose
scope token scope
security-label token provision.securityLabel
source-reference reference sourceReference
status token status
""",
    "AuditEvent": """
action token action
address string agent.network.address
agent reference agent.who
agent-name string agent.name
agent-role token agent.role
altid token agent.altId
date date recorded
entity reference entity.what
entity-name string entity.name
entity-role token entity.role
entity-type token entity.type
outcome token outcome
patient reference agent.who|entity.what [Patient]
policy uri agent.policy
site token source.site
source reference source.observer
subtype token subtype
type token type
""",
    "Provenance": """
agent reference agent.who
agent-role token agent.role
agent-type token agent.type
entity reference entity.what
location reference location
patient reference target [Patient]
recorded date recorded
signature-type token signature.type
target reference target
when date occurredDateTime|occurredPeriod
""",
    "Location": _ADDRESS + """
endpoint reference endpoint
identifier token identifier
name string name|alias
operational-status token operationalStatus
organization reference managingOrganization [Organization]
partof reference partOf [Location]
status token status
type token type
""",
    "Medication": """
code token code
expiration-date date batch.expirationDate
form token form
identifier token identifier
ingredient reference ingredient.itemReference
ingredient-code token ingredient.itemCodeableConcept
lot-number token batch.lotNumber
manufacturer reference manufacturer
status token status
""",
    "Goal": """
achievement-status token achievementStatus
category token category
identifier token identifier
lifecycle-status token lifecycleStatus
patient reference subject [Patient]
start-date date startDate
subject reference subject
target-date date target.dueDate
""",
    "CarePlan": """
activity-code token activity.detail.code
activity-date date activity.detail.scheduledPeriod|activity.detail.scheduledString
activity-reference reference activity.reference
based-on reference basedOn
care-team reference careTeam
category token category
condition reference addresses
date date period
encounter reference encounter [Encounter]
goal reference goal
identifier token identifier
instantiates-canonical reference instantiatesCanonical
instantiates-uri uri instantiatesUri
intent token intent
part-of reference partOf
patient reference subject [Patient]
performer reference activity.detail.performer
replaces reference replaces
status token status
subject reference subject
""",
    "Claim": """
care-team reference careTeam.provider
created date created
encounter reference item.encounter
enterer reference enterer
facility reference facility
identifier token identifier
insurer reference insurer
patient reference patient [Patient]
payee reference payee.party
priority token priority
provider reference provider
status token status
use token use
""",
    "ExplanationOfBenefit": """
care-team reference careTeam.provider
claim reference claim
coverage reference insurance.coverage
created date created
disposition string disposition
encounter reference item.encounter
enterer reference enterer
facility reference facility
identifier token identifier
patient reference patient [Patient]
payee reference payee.party
provider reference provider
status token status
""",
    "Device": """
device-name string deviceName.name
identifier token identifier
location reference location
manufacturer string manufacturer
model string modelNumber
organization reference owner [Organization]
patient reference patient [Patient]
status token status
type token type
udi-carrier string udiCarrier.carrierHRF
udi-di string udiCarrier.deviceIdentifier
url uri url
""",
    "CodeSystem": """
name string name
status token status
system uri url
url uri url
version token version
""",
    "ValueSet": """
name string name
status token status
url uri url
version token version
""",
    "Group": """
actual token actual
characteristic token characteristic.code
code token code
exclude token characteristic.exclude
identifier token identifier
managing-entity reference managingEntity
member reference member.entity
type token type
""",
    "Bundle": """
identifier token identifier
timestamp date timestamp
type token type
""",
    "DocumentManifest": """
author reference author
created date created
description string description
identifier token masterIdentifier|identifier
item reference content
patient reference subject [Patient]
recipient reference recipient
related-id token related.identifier
related-ref reference related.ref
source uri source
status token status
subject reference subject
type token type
""",
    "Binary": "",
    "ServiceRequest": """
authored date authoredOn
based-on reference basedOn
category token category
code token code
encounter reference encounter [Encounter]
identifier token identifier
intent token intent
occurrence date occurrenceDateTime|occurrencePeriod
patient reference subject [Patient]
performer reference performer
requester reference requester
status token status
subject reference subject
""",
    "Specimen": """
accession token accessionIdentifier
collected date collection.collectedDateTime|collection.collectedPeriod
identifier token identifier
patient reference subject [Patient]
status token status
subject reference subject
type token type
""",
    "Composition": """
attester reference attester.party
author reference author
category token category
date date date
encounter reference encounter [Encounter]
identifier token identifier
patient reference subject [Patient]
status token status
subject reference subject
title string title
type token type
""",
    "Coverage": """
beneficiary reference beneficiary
identifier token identifier
patient reference beneficiary [Patient]
payor reference payor
policy-holder reference policyHolder
status token status
subscriber reference subscriber
type token type
""",
    "EpisodeOfCare": """
date date period
identifier token identifier
organization reference managingOrganization
patient reference patient [Patient]
status token status
type token type
""",
    "FamilyMemberHistory": """
code token condition.code
date date date
identifier token identifier
patient reference patient [Patient]
relationship token relationship
status token status
""",
    "Appointment": """
actor reference participant.actor
date date start
identifier token identifier
patient reference participant.actor [Patient]
practitioner reference participant.actor [Practitioner]
status token status
""",
    "AppointmentResponse": """
actor reference actor
appointment reference appointment
patient reference actor [Patient]
""",
    "QuestionnaireResponse": """
author reference author
authored date authored
identifier token identifier
patient reference subject [Patient]
questionnaire reference questionnaire
status token status
subject reference subject
""",
    "Questionnaire": """
code token item.code
identifier token identifier
name string name
status token status
title string title
url uri url
""",
    "List": """
code token code
date date date
identifier token identifier
patient reference subject [Patient]
source reference source
status token status
subject reference subject
""",
    "Flag": """
date date period
identifier token identifier
patient reference subject [Patient]
status token status
subject reference subject
""",
    "Account": """
identifier token identifier
patient reference subject [Patient]
status token status
subject reference subject
""",
    "AdverseEvent": """
date date date
subject reference subject
""",
    "Basic": """
author reference author
code token code
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "BodyStructure": """
identifier token identifier
patient reference patient [Patient]
""",
    "ChargeItem": """
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "ClaimResponse": """
identifier token identifier
patient reference patient [Patient]
""",
    "ClinicalImpression": """
date date date
patient reference subject [Patient]
subject reference subject
""",
    "CoverageEligibilityRequest": """
identifier token identifier
patient reference patient [Patient]
""",
    "CoverageEligibilityResponse": """
identifier token identifier
patient reference patient [Patient]
""",
    "DetectedIssue": """
identifier token identifier
patient reference patient [Patient]
""",
    "DeviceRequest": """
identifier token identifier
patient reference subject [Patient]
performer reference performer
subject reference subject
""",
    "DeviceUseStatement": """
device reference device
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "EnrollmentRequest": """
identifier token identifier
patient reference candidate [Patient]
subject reference candidate
""",
    "ImagingStudy": """
identifier token identifier
patient reference subject [Patient]
started date started
subject reference subject
""",
    "ImmunizationEvaluation": """
identifier token identifier
patient reference patient [Patient]
""",
    "ImmunizationRecommendation": """
identifier token identifier
patient reference patient [Patient]
""",
    "Invoice": """
identifier token identifier
patient reference subject [Patient]
recipient reference recipient
subject reference subject
""",
    "MeasureReport": """
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "Media": """
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "MolecularSequence": """
identifier token identifier
patient reference patient [Patient]
""",
    "NutritionOrder": """
identifier token identifier
patient reference patient [Patient]
""",
    "Person": """
identifier token identifier
link reference link.target
name string name
patient reference link.target [Patient]
""",
    "RequestGroup": """
identifier token identifier
participant reference action.participant
patient reference subject [Patient]
subject reference subject
""",
    "ResearchSubject": """
identifier token identifier
individual reference individual
patient reference individual [Patient]
""",
    "RiskAssessment": """
identifier token identifier
patient reference subject [Patient]
subject reference subject
""",
    "Schedule": """
actor reference actor
identifier token identifier
""",
    "SupplyDelivery": """
identifier token identifier
patient reference patient [Patient]
""",
    "SupplyRequest": """
identifier token identifier
subject reference deliverTo
""",
    "VisionPrescription": """
identifier token identifier
patient reference patient [Patient]
""",
    "Endpoint": """
identifier token identifier
name string name
status token status
""",
    "HealthcareService": """
identifier token identifier
name string name
organization reference providedBy [Organization]
""",
}


def _parse(block: str) -> dict[str, SearchParam]:
    out: dict[str, SearchParam] = {}
    for line in block.strip().splitlines():
        parts = line.split()
        if not parts:
            continue
        name, ptype, paths = parts[0], parts[1], tuple(parts[2].split("|"))
        targets: frozenset[str] = frozenset()
        if len(parts) > 3:
            targets = frozenset(parts[3].strip("[]").split(","))
        assert ptype in PARAM_TYPES, (name, ptype)
        out[name] = SearchParam(name, ptype, paths, targets)
    return out


COMMON_PARAMS: dict[str, SearchParam] = _parse(_COMMON)

#: Every resource type known to FHIR R4 that the server may store.  Types not
#: in :data:`_DEFS` get only the common parameters.
SEARCH_PARAMS: dict[str, dict[str, SearchParam]] = {
    rtype: {**COMMON_PARAMS, **_parse(block)} for rtype, block in _DEFS.items()
}

#: Parameters whose value is stored outside ``idx`` (``_id`` → ``_id``,
#: ``_lastUpdated`` → ``lu``) and that the extractor therefore skips.
SPECIAL_STORED = frozenset({"_id", "_lastUpdated"})


def params_for(resource_type: str) -> dict[str, SearchParam]:
    """Return ``{name: SearchParam}`` for a resource type (common ones at least). Not cached:
    it is one dict lookup, and a cache would keep every type name a request made up."""
    return SEARCH_PARAMS.get(resource_type, COMMON_PARAMS)


def get_param(resource_type: str, name: str) -> SearchParam | None:
    """Look up one parameter by name, or ``None`` if the type does not define it."""
    return params_for(resource_type).get(name)
