"""Real FHIR client libraries against /fhir: fhirpy (create, read, update, search pages, delete)
and fhirclient (reads the CapabilityStatement, searches with its R4 models)."""

from __future__ import annotations

from fhirclient import client as fhirclient
from fhirclient.models.patient import Patient as FcPatient
from fhirpy import SyncFHIRClient

from tests.conftest import RunningServer


def test_fhirpy_crud_and_paging(server: RunningServer) -> None:
    fhir = SyncFHIRClient(server.fhir, authorization=f"Bearer {server.token()}")
    patient = fhir.resource("Patient", name=[{"family": "Fhirpyson", "given": ["Pia"]}], gender="female")
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"
    patient["birthDate"] = "1980-01-02"
    patient.save()
    fetched = fhir.reference("Patient", patient.id).to_resource()
    assert fetched["birthDate"] == "1980-01-02" and fetched["meta"]["versionId"] == "2"

    found = fhir.resources("Patient").search(family="fhirpys").fetch_all()
    assert [p.id for p in found] == [patient.id]
    # fetch_all follows the server's next links; _count=7 forces several pages.
    labs = fhir.resources("Observation").search(patient="jane-doe", category="laboratory").limit(7).fetch_all()
    ids = [o.id for o in labs]
    assert len(ids) == len(set(ids)) and len(ids) > 20
    assert fhir.resources("Observation").search(patient="jane-doe", category="laboratory").count() == len(ids)
    patient.delete()
    assert fhir.resources("Patient").search(family="fhirpys").fetch_all() == []


def test_fhirclient_searches_with_its_models(server: RunningServer) -> None:
    smart = fhirclient.FHIRClient(settings={"app_id": "tests", "api_base": server.fhir})
    smart.server.auth = None
    smart.server.session.headers["Authorization"] = f"Bearer {server.token()}"
    patients = FcPatient.where({"family": "doe", "birthdate": "1968-04-12"}).perform_resources(smart.server)
    assert [p.id for p in patients] == ["jane-doe"]
    assert patients[0].name[0].family == "Doe"
