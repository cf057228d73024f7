"""The searches of the portal's record sections (``fhir_server/portal/record/``) are indexed:
on four Synthea patients, each examines no more documents than the patient's own."""

from __future__ import annotations

from typing import Any

from tests.resources.test_search_execute import ALL, _docs_examined, loaded  # noqa: F401  (the fixture)

# (type, the section's parameters besides ``patient``), as the section modules send them.
SECTION_SEARCHES = [
    ("Condition", []),
    ("MedicationRequest", []),
    ("MedicationStatement", []),
    ("AllergyIntolerance", []),
    ("Immunization", []),
    ("Observation", [("category", "vital-signs"), ("_sort", "-date")]),
    ("Encounter", [("_sort", "-date")]),
    ("Appointment", [("date", "ge2020-01-01"), ("_sort", "date")]),
    ("CareTeam", []),
]


def own(resource: dict[str, Any], pid: str) -> bool:
    refs = [resource.get("subject"), resource.get("patient")] + \
        [p.get("actor") for p in resource.get("participant", []) if isinstance(p, dict)]
    return any((r or {}).get("reference", "").endswith(f"Patient/{pid}") for r in refs)


def test_every_record_section_search_is_indexed(loaded: dict) -> None:  # noqa: F811
    pid = loaded["patients"][0]["id"]
    report = []
    for rtype, params in SECTION_SEARCHES:
        docs = loaded["by_type"].get(rtype, [])
        if not docs:
            continue
        mine = sum(1 for d in docs if own(d["res"], pid))
        examined = _docs_examined(loaded, rtype, [("patient", pid), *params], ALL)
        report.append(f"{rtype}: {examined} examined of {len(docs)} ({mine} the patient's)")
        assert examined <= mine, report[-1]
    encounters = [d["_id"] for d in loaded["by_type"]["Encounter"] if own(d["res"], pid)][:100]
    notes = _docs_examined(loaded, "DocumentReference",
                           [("patient", pid), ("encounter", ",".join(f"Encounter/{e}" for e in encounters)),
                            ("status", "current"), ("_sort", "-date")], ALL)
    total = len(loaded["by_type"].get("DocumentReference", []))
    report.append(f"DocumentReference by encounter: {notes} examined of {total}")
    assert notes <= max(1, total // 2), report[-1]
    print("\n" + "\n".join(report))
