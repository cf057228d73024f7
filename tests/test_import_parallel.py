"""``carespace import`` of several files: validated ahead in a process pool, written in order;
a Bundle with an invalid entry still fails whole and names its entry, as one alone does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pymongo import MongoClient

from fhir_server.config import Settings
from fhir_server.importer import import_paths, prepare_file
from fhir_server.services import build_services
from tests.threaded import run_coroutine


def bundle(family: str, *, bad_observation: bool = False) -> dict:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    observation: dict = {"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                         "subject": {"reference": patient_url}}
    if bad_observation:
        observation["status"] = ["not", "a", "code"]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "name": [{"family": family}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": observation,
         "request": {"method": "POST", "url": "Observation"}},
    ]}


def test_a_folder_imports_in_order_and_a_bad_bundle_fails_whole(tmp_path: Path, mongo_uri: str,
                                                                mongo: MongoClient) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    families = [f"Parallel{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for i, family in enumerate(families):
        (folder / f"{i}.json").write_text(json.dumps(bundle(family, bad_observation=i == 2)))
    (folder / "9.json").write_text("{not json")
    database = f"carespace_import_{uuid.uuid4().hex[:8]}"
    settings = Settings(mongodb_uri=mongo_uri, embedded_db=True, data_dir=tmp_path / "var", database_name=database)
    settings.data_dir.mkdir()

    async def run():  # type: ignore[no-untyped-def]
        services = await build_services(settings)
        try:
            return await import_paths(services, [folder], progress=False)
        finally:
            await services.db.close()

    try:
        report = run_coroutine(run())
        assert report.files == 5
        assert report.counts == {"Patient": 3, "Observation": 3}
        assert len(report.failures) == 2, report.failures
        assert "2.json" in report.failures[0] and "Bundle.entry[1]" in report.failures[0]
        assert "nothing of this Bundle was written" in report.failures[0]
        assert "9.json" in report.failures[1] and "not valid JSON" in report.failures[1]
        stored = {p["res"]["name"][0]["family"] for p in mongo[database]["Patient"].find({}, {"res.name": 1})}
        assert stored == {families[0], families[1], families[3]}
        for observation in mongo[database]["Observation"].find({}, {"res.subject": 1}):
            assert observation["res"]["subject"]["reference"].startswith("Patient/")
    finally:
        mongo.drop_database(database)


def test_prepare_file_validates_in_the_pool_and_leaves_a_bad_entry_to_the_writer(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle("Good")))
    bad.write_text(json.dumps(bundle("Bad", bad_observation=True)))
    document, error, validated = prepare_file(str(good))
    assert error is None and validated and document["type"] == "transaction"
    document, error, validated = prepare_file(str(bad))
    assert error is None and not validated, "the writer validates it again and names the entry"
