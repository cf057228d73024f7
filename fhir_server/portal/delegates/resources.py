"""The FHIR shape of a delegate grant: the RelatedPerson and its Consent (pure functions)."""

from __future__ import annotations

from typing import Any

CONSENT_SCOPE = {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy",
                 "display": "Privacy Consent"}
CONSENT_CATEGORY = {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
OPT_IN = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN", "display": "opt-in"}
RECIPIENT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP",
             "display": "information recipient"}
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

# The choices of the invite form: key -> (coding, what the patient reads).
RELATIONSHIPS: dict[str, tuple[dict[str, str], str]] = {
    "SPS": ({"system": ROLE_CODE, "code": "SPS", "display": "spouse"}, "Spouse"),
    "DOMPART": ({"system": ROLE_CODE, "code": "DOMPART", "display": "domestic partner"}, "Partner"),
    "CHILD": ({"system": ROLE_CODE, "code": "CHILD", "display": "child"}, "Son or daughter"),
    "PRN": ({"system": ROLE_CODE, "code": "PRN", "display": "parent"}, "Parent"),
    "SIB": ({"system": ROLE_CODE, "code": "SIB", "display": "sibling"}, "Brother or sister"),
    "FAMMEMB": ({"system": ROLE_CODE, "code": "FAMMEMB", "display": "family member"}, "Other family member"),
    "FRND": ({"system": ROLE_CODE, "code": "FRND", "display": "unrelated friend"}, "Friend"),
    "CP": ({"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "CP", "display": "Contact person"},
           "Caregiver"),
}


def _name(name: str) -> list[dict[str, Any]]:
    parts = name.split()
    if not parts:
        return []
    entry: dict[str, Any] = {"use": "usual", "text": name}
    if len(parts) > 1:
        entry["given"], entry["family"] = parts[:-1], parts[-1]
    else:
        entry["given"] = parts
    return [entry]


def related_person(patient_id: str, patient_name: str, *, email: str, birth_date: str, name: str,
                   relationship: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": f"Patient/{patient_id}", "display": patient_name},
        "telecom": [{"system": "email", "value": email, "use": "home"}],
        "birthDate": birth_date,
    }
    if name:
        resource["name"] = _name(name)
    if relationship in RELATIONSHIPS:
        coding, label = RELATIONSHIPS[relationship]
        resource["relationship"] = [{"coding": [coding], "text": label}]
    return resource


def consent(patient_id: str, patient_name: str, person_id: str, person_label: str, *, organization: str | None,
            organization_name: str | None, now: str) -> dict[str, Any]:
    """A proposed Consent: the patient permits the RelatedPerson to receive their record."""
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "proposed",
        "scope": {"coding": [CONSENT_SCOPE], "text": "Privacy Consent"},
        "category": [{"coding": [CONSENT_CATEGORY], "text": "Patient Consent"}],
        "patient": {"reference": f"Patient/{patient_id}", "display": patient_name},
        "dateTime": now,
        "performer": [{"reference": f"Patient/{patient_id}", "display": patient_name}],
        "policyRule": {"coding": [OPT_IN], "text": "opt-in"},
        "provision": {
            "type": "permit",
            "actor": [{"role": {"coding": [RECIPIENT], "text": "information recipient"},
                       "reference": {"reference": f"RelatedPerson/{person_id}", "display": person_label}}],
        },
    }
    if organization:
        org: dict[str, Any] = {"reference": f"Organization/{organization}"}
        if organization_name:
            org["display"] = organization_name
        resource["organization"] = [org]
    return resource


def actor_of(consent_resource: dict[str, Any]) -> str | None:
    """The RelatedPerson id a delegate Consent permits, or None for any other Consent."""
    for actor in (consent_resource.get("provision") or {}).get("actor") or []:
        codes = {c.get("code") for c in (actor.get("role") or {}).get("coding") or []}
        ref = str((actor.get("reference") or {}).get("reference") or "")
        if "IRCP" in codes and ref.startswith("RelatedPerson/"):
            return ref.split("/", 1)[1]
    return None


def email_of(person: dict[str, Any]) -> str:
    return next((str(t.get("value", "")) for t in person.get("telecom") or [] if t.get("system") == "email"), "")


def relationship_label(person: dict[str, Any]) -> str:
    for rel in person.get("relationship") or []:
        if rel.get("text"):
            return str(rel["text"])
        for coding in rel.get("coding") or []:
            if coding.get("display"):
                return str(coding["display"]).capitalize()
    return ""
