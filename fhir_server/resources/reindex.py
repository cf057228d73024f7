"""Bring stored compartments up to the current rule, once, at start-up.

``comp`` is computed at write time. When the rule that computes it changes, what was stored
before keeps the old answer until it is computed again. Version 2 of the rule puts patient data
of types outside the Patient CompartmentDefinition (a Task's ``for``, a Device's ``patient``, a
stored Bundle's entries…) in its patients' compartments. Stored under version 1 those resources
have no compartment: the access rule refuses them to every patient-side caller (safe), but
their own patient cannot see them either until this has run. Types of the definition are
unchanged, so only the other type collections are read.
"""

from __future__ import annotations

import logging

from pymongo import UpdateOne

from fhir_server.db import SERVER_STATE
from fhir_server.resources.search import PATIENT_COMPARTMENT, patient_compartments
from fhir_server.resources.store import ResourceStore
from fhir_server.resources.validation import resource_types

log = logging.getLogger("carespace.reindex")
COMPARTMENT_RULE = 2
BATCH = 500


async def upgrade_compartments(store: ResourceStore) -> int:
    """Recompute ``comp`` where the rule changed; returns how many documents changed."""
    state = store.db[SERVER_STATE]
    done = await state.find_one({"_id": "compartment-rule"})
    if done and done.get("version", 0) >= COMPARTMENT_RULE:
        return 0
    types = resource_types() - set(PATIENT_COMPARTMENT)
    changed = 0
    for name in await store.db.db.list_collection_names():
        if name not in types:
            continue
        batch: list[UpdateOne] = []
        async for doc in store.db.resources(name).find({}, projection={"res": 1, "comp": 1}):
            comp = patient_compartments(doc["res"], store.base_url)
            if comp != (doc.get("comp") or []):
                batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"comp": comp}}))
            if len(batch) >= BATCH:
                changed += (await store.db.resources(name).bulk_write(batch, ordered=False)).modified_count
                batch = []
        if batch:
            changed += (await store.db.resources(name).bulk_write(batch, ordered=False)).modified_count
    await state.update_one({"_id": "compartment-rule"}, {"$set": {"version": COMPARTMENT_RULE}}, upsert=True)
    if changed:
        log.info("patient compartments recomputed for %d stored resources (rule %d)", changed, COMPARTMENT_RULE)
    return changed
