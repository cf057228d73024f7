"""Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction).

A transaction is all or nothing: every entry is validated, access-checked and its
references resolved (``urn:uuid:`` fullUrls and conditional references) before anything is
written, then the writes run in one MongoDB transaction in the specification's order
(DELETE, POST, PUT/PATCH, GET). A failing entry rolls everything back, and the answer is
an OperationOutcome naming the entry. A batch runs each entry on its own.

Everything the entries replace, patch or delete is read before the transaction, one query a
type, and the writes go to the store together (``ResourceStore.write``): a Synthea bundle of
thousands of creates, or an EHR's sync of hundreds of updates and deletes, costs a handful of
round trips, not three per entry. As the specification requires, a transaction writes each
resource at most once (http.html#trules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pymongo.asynchronous.client_session import AsyncClientSession

from fhir_server import audit_refusals
from fhir_server.access import Caller, Refused, check_resource, check_write, search_scope
from fhir_server.resources import hooks
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError, bad_request
from fhir_server.resources.patch import apply_patch, entry_patch
from fhir_server.resources.reading import read_visible
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.store import Changes, Version, check_if_match, instant
from fhir_server.resources.validation import check_id, check_shape, check_type, validate
from fhir_server.services import Services

_VERSION_TAG = re.compile(r'^(W/)?"?\d+"?$')
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    resource: dict[str, Any] | None
    full_url: str | None
    if_none_exist: str | None = None
    if_match: str | None = None
    resource_type: str = ""
    target_id: str | None = None  # the id this entry writes (or deletes)
    fresh: bool = False  # a create with a server-assigned id
    existing: bool = False  # a conditional create that matched: nothing is written
    outcome: dict[str, Any] = field(default_factory=dict)


def parse_entries(bundle: dict[str, Any]) -> list[Entry]:
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise bad_request("Bundle.entry must be a list of entries.", ["Bundle.entry"])
    entries = []
    for index, raw in enumerate(raw_entries):
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict):
            raise _entry_error(index, 400, "invalid", "every entry is an object with a request object")
        if_match = request.get("ifMatch")
        if if_match is not None and not _VERSION_TAG.match(str(if_match)):
            raise _entry_error(index, 400, "invalid", f'ifMatch must be a version ETag such as W/"3", not {if_match!r}')
        method = str(request.get("method", "")).upper()
        url = str(request.get("url", "")).lstrip("/")
        if method not in ORDER or not url:
            raise _entry_error(index, 400, "invalid", "every entry needs request.method and request.url")
        resource = raw.get("resource")
        if method in ("POST", "PUT", "PATCH") and not isinstance(resource, dict):
            raise _entry_error(index, 400, "invalid", f"a {method} entry needs a resource")
        entries.append(Entry(index, method, url, resource, raw.get("fullUrl"),
                             request.get("ifNoneExist"), request.get("ifMatch")))
    return entries


def _entry_error(index: int, status: int, code: str, message: str, inner: list[str] | None = None) -> FhirError:
    """The entry's error; ``inner`` (paths in the entry's resource) become paths in the Bundle."""
    where = [f"Bundle.entry[{index}].resource" + path[path.find("."):] for path in inner or [] if "." in path]
    return FhirError(status, code, f"Bundle.entry[{index}]: {message}", [f"Bundle.entry[{index}]", *where])


def _in_entry(index: int, exc: FhirError) -> FhirError:
    """``exc`` as the error of entry ``index``; a refusal stays a refusal, so that it is audited."""
    error = _entry_error(index, exc.status, exc.code, exc.diagnostics, exc.expression)
    if isinstance(exc, Refused):
        return Refused(error, exc.caller, exc.resource_type, exc.resource_id, exc.interaction, serious=exc.serious)
    return error


def _check_overlaps(entries: list[Entry]) -> None:
    """Each resource is written by one entry at most (http.html#trules: the identities of the
    writes, resolved conditional ones included, must not overlap)."""
    first: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.method in ("GET", "HEAD") or entry.existing or not entry.target_id:
            continue
        key = (entry.resource_type, entry.target_id)
        if key in first:
            raise _entry_error(entry.index, 400, "invalid", f"Bundle.entry[{first[key]}] writes "
                               f"{key[0]}/{key[1]} too: a transaction writes each resource once")
        first[key] = entry.index


class BundleProcessor:
    """Runs one batch or transaction for one caller."""

    def __init__(self, services: Services, caller: Caller, *, validated: bool = False) -> None:
        """``validated``: every POST and PUT entry's resource already passed ``validate`` (the
        importer validates in other processes); only the cheap checks run again here."""
        self.services = services
        self.caller = caller
        self.base = services.settings.fhir_base
        self.touched_patients: set[str] = set()
        self.validated = validated
        # Conditional references resolved during one _prepare: nothing is written before it ends,
        # so each distinct one is one search (a Synthea Bundle repeats a few hundred times).
        self._conditional: dict[str, str] = {}
        # What one _prepare read of the resources its entries write (one query a type): the
        # current versions, and for a PUT that creates, its id's newest deleted version.
        self._current: dict[tuple[str, str], Version] = {}
        self._lived: dict[tuple[str, str], int] = {}

    async def run(self, bundle: dict[str, Any]) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle":
            raise bad_request("POST /fhir takes a Bundle of type batch or transaction.", ["resourceType"])
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise bad_request(f"Bundle.type must be batch or transaction, not {kind!r}.", ["Bundle.type"])
        entries = parse_entries(bundle)
        if kind == "transaction":
            responses = await self.transaction(entries)
        else:
            responses = [await self._batch_entry(entry) for entry in entries]
        await hooks.after_create(self.services, self.caller, [r.get("resource") for r in responses
                                                              if r.get("response", {}).get("status") == "201 Created"])
        return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": responses}

    # -- transaction -------------------------------------------------------------------

    async def transaction(self, entries: list[Entry]) -> list[dict[str, Any]]:
        await self._prepare(entries)
        for entry in entries:
            if entry.resource_type:
                await self.services.store.collection(entry.resource_type)  # indexes outside the txn
        ordered = sorted(entries, key=lambda e: (ORDER[e.method], e.index))
        responses: dict[int, dict[str, Any]] = {}

        async def work(session: AsyncClientSession | None) -> None:
            responses.clear()
            responses.update(await self._write(ordered, session))

        # A standalone server has no transactions: best effort there, entries were all checked first.
        await self.services.db.in_transaction(work)
        return [responses[e.index] for e in entries]

    async def _prepare(self, entries: list[Entry]) -> None:
        """Validate, resolve ids and references, read what is written over, check access and
        versions: all before any write."""
        mapping: dict[str, str] = {}
        self._conditional = {}
        for entry in entries:
            try:
                await self._resolve_target(entry)
            except FhirError as exc:
                raise _in_entry(entry.index, exc) from None
            if entry.full_url and entry.target_id and entry.resource_type:
                mapping[entry.full_url] = f"{entry.resource_type}/{entry.target_id}"
        _check_overlaps(entries)
        await self._read_targets(entries)
        for entry in entries:
            try:
                if entry.method == "PATCH":
                    self._apply_patch(entry)
                elif entry.method == "DELETE":
                    self._check_delete(entry)
            except FhirError as exc:
                raise _in_entry(entry.index, exc) from None
        for entry in entries:
            if entry.resource is None or entry.method not in ("POST", "PUT", "PATCH") or entry.existing:
                continue
            try:
                entry.resource = await self._rewrite_references(entry.resource, mapping)
                if self.validated and entry.method in ("POST", "PUT"):
                    check_shape(entry.resource, entry.resource_type)  # rewritten references stay strings
                else:
                    validate(entry.resource, entry.resource_type)
                if entry.fresh or entry.method in ("PUT", "PATCH"):
                    entry.resource = {**entry.resource, "id": entry.target_id}
                if entry.method in ("PUT", "PATCH"):
                    self._check_replaced(entry)
                compartments = patient_compartments(entry.resource, self.base)
                check_write(self.caller, entry.resource_type, compartments, "c" if entry.fresh else "u")
                await hooks.before_write(self.services, self.caller, entry.resource, "c" if entry.fresh else "u")
                self.touched_patients.update(compartments)
            except FhirError as exc:
                raise _in_entry(entry.index, exc) from None

    async def _read_targets(self, entries: list[Entry]) -> None:
        """Read what the entries replace, patch, delete or found by ``ifNoneExist``: one query a
        type, and one more for where the ids a PUT creates stand in ``history``."""
        store = self.services.store
        wanted: dict[str, list[str]] = {}
        creating: set[tuple[str, str]] = set()
        for entry in entries:
            if entry.target_id and (entry.existing or entry.method in ("PUT", "PATCH", "DELETE")):
                wanted.setdefault(entry.resource_type, []).append(entry.target_id)
                if entry.method == "PUT":
                    creating.add((entry.resource_type, entry.target_id))
        self._current, self._lived = {}, {}
        for resource_type, ids in wanted.items():
            found = await store.current_versions(resource_type, ids)
            self._current.update(((resource_type, i), version) for i, version in found.items())
            new = [i for i in ids if i not in found and (resource_type, i) in creating]
            if new:
                lived = await store.last_vids(resource_type, new)
                self._lived.update(((resource_type, i), vid) for i, vid in lived.items())

    def _target(self, entry: Entry) -> Version | None:
        """The current version of what the entry writes, as ``_read_targets`` read it."""
        return self._current.get((entry.resource_type, entry.target_id)) if entry.target_id else None

    def _check_replaced(self, entry: Entry) -> None:
        """A PUT over an existing resource must be allowed to change that resource, as on the
        instance URL (not only to write the new body), and its ``ifMatch`` must hold."""
        current = self._target(entry)
        if current is not None and current.resource is not None:
            compartments = patient_compartments(current.resource, self.base)
            check_resource(self.caller, entry.resource_type, current.id, compartments, "u")
            self.touched_patients.update(compartments)
        check_if_match(entry.resource_type, entry.target_id or "", current, _version_of(entry.if_match))

    def _apply_patch(self, entry: Entry) -> None:
        """A PATCH entry becomes the patched resource, written like a PUT of the version read."""
        current = self._target(entry)
        if current is None or current.resource is None:
            raise FhirError(404, "not-found", f"{entry.resource_type}/{entry.target_id} is not known"
                            if entry.target_id else f"nothing matches {entry.url}")
        check_resource(self.caller, entry.resource_type, current.id,
                       patient_compartments(current.resource, self.base), "u")
        entry.resource = apply_patch(current.resource, *entry_patch(entry.resource))
        entry.if_match = entry.if_match or f'W/"{current.vid}"'

    def _check_delete(self, entry: Entry) -> None:
        current = self._target(entry)
        if current is not None and current.resource is not None:
            compartments = patient_compartments(current.resource, self.base)
            check_resource(self.caller, entry.resource_type, current.id, compartments, "d")
            self.touched_patients.update(compartments)

    async def _resolve_target(self, entry: Entry) -> None:
        path, _, query = entry.url.partition("?")
        parts = path.split("/")
        entry.resource_type = parts[0]
        if entry.method == "GET" or entry.method == "HEAD":
            return
        check_type(entry.resource_type)
        if entry.method == "POST":
            if entry.if_none_exist:
                matches = await self._match(entry.resource_type, entry.if_none_exist.lstrip("?"))
                if len(matches) > 1:
                    raise FhirError(412, "duplicate", f"ifNoneExist matches {len(matches)} resources")
                if matches:
                    entry.target_id, entry.existing = matches[0], True
                    return
            entry.target_id = self.services.store.new_id()
            entry.fresh = True
        elif len(parts) == 2:
            check_id(parts[1])
            entry.target_id = parts[1]
            if entry.method == "PUT" and entry.resource and entry.resource.get("id") not in (None, parts[1]):
                raise bad_request(f"the resource id differs from the URL id {parts[1]}")
        elif query:
            matches = await self._match(entry.resource_type, query)
            if len(matches) > 1:
                raise FhirError(412, "duplicate", f"the criteria '{query}' match {len(matches)} resources")
            if matches:
                entry.target_id = matches[0]
            elif entry.method == "PUT":
                entry.target_id = (entry.resource or {}).get("id") or self.services.store.new_id()
        else:
            raise bad_request(f"'{entry.url}' is not a {entry.method} URL")

    async def _match(self, resource_type: str, query: str) -> list[str]:
        params = parse_qsl(query, keep_blank_values=True)
        bundle = await search_engine.search(self.services.db.db, resource_type, [*params, ("_count", "2")],
                                            base_url=self.base, scope=search_scope(self.caller, resource_type),
                                            strict=True)
        return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]

    async def _rewrite_references(self, resource: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
        conditional = self._conditional
        references: list[str] = []

        def collect(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "reference" and isinstance(value, str):
                        references.append(value)
                    else:
                        collect(value)
            elif isinstance(node, list):
                for item in node:
                    collect(item)

        def visit(node: Any) -> Any:  # plain recursion: a coroutine per JSON node cost 12 % of an import
            if isinstance(node, dict):
                return {key: resolved[value] if key == "reference" and isinstance(value, str) else visit(value)
                        for key, value in node.items()}
            if isinstance(node, list):
                return [visit(item) for item in node]
            return node

        async def resolve(reference: str) -> str:
            if reference in mapping:
                return mapping[reference]
            if reference.startswith("urn:uuid:") or reference.startswith("urn:oid:"):
                raise bad_request(f"the reference {reference} names no entry of this Bundle")
            if "?" in reference and not reference.startswith("http"):
                if reference not in conditional:
                    resource_type, _, query = reference.partition("?")
                    check_type(resource_type)
                    matches = await self._match(resource_type, query)
                    if len(matches) != 1:
                        raise FhirError(412, "not-found" if not matches else "duplicate",
                                        f"the conditional reference {reference} matches {len(matches)} resources")
                    conditional[reference] = f"{resource_type}/{matches[0]}"
                return conditional[reference]
            return reference

        collect(resource)
        resolved = {reference: await resolve(reference) for reference in references}
        result: dict[str, Any] = visit(resource)
        return result

    async def _write(self, entries: list[Entry], session: AsyncClientSession | None) -> dict[int, dict[str, Any]]:
        """Write what ``_prepare`` checked, all of it in one ``store.write``; the responses by
        entry index. GETs run after the writes (the specification's order)."""
        store = self.services.store
        changes = Changes()
        written: dict[int, tuple[Version, int]] = {}
        for entry in entries:
            current = self._target(entry)
            if entry.existing or entry.method in ("GET", "HEAD"):
                continue
            if entry.method == "DELETE":
                if current is not None:
                    changes.deletes.append(current)
                continue
            assert entry.resource is not None and entry.target_id
            if current is None:  # a create, or a PUT that creates (after a deleted life: its next version)
                vid = 1 if entry.fresh else self._lived.get((entry.resource_type, entry.target_id), 0) + 1
                version = store.stamp(entry.resource, entry.target_id, vid)
                changes.creates.append(version)
                written[entry.index] = (version, 201)
            else:
                version = store.stamp(entry.resource, entry.target_id, current.vid + 1)
                changes.replaces.append(version)
                written[entry.index] = (version, 200)
        await store.write(changes, session)
        responses: dict[int, dict[str, Any]] = {}
        for entry in entries:
            if entry.index in written:
                responses[entry.index] = _response(*written[entry.index], self.base)
            elif entry.method == "DELETE":
                responses[entry.index] = {"response": {"status": "204 No Content"}}
            elif entry.existing:
                found = self._target(entry) or await store.read(entry.resource_type, entry.target_id or "")
                responses[entry.index] = _response(found, 200, self.base)
            else:
                responses[entry.index] = await self._read_entry(entry)
        return responses

    async def _read_entry(self, entry: Entry) -> dict[str, Any]:
        path, _, query = entry.url.partition("?")
        parts = path.split("/")
        check_type(parts[0])
        if len(parts) == 2:
            # 404, never 410, for what the caller could not have seen (as a direct read answers).
            version = await read_visible(self.services, self.caller, parts[0], parts[1])
            assert version.resource is not None
            compartments = patient_compartments(version.resource, self.base)
            self.touched_patients.update(compartments)
            return {"resource": version.resource, "response": {"status": "200 OK", "etag": version.etag}}
        bundle = await search_engine.search(self.services.db.db, parts[0], parse_qsl(query, keep_blank_values=True),
                                            base_url=self.base, scope=search_scope(self.caller, parts[0]))
        for found in bundle.get("entry", []):
            if found.get("resource", {}).get("resourceType") != "OperationOutcome":
                self.touched_patients.update(patient_compartments(found["resource"], self.base))
        return {"resource": bundle, "response": {"status": "200 OK"}}

    # -- batch ----------------------------------------------------------------------------

    async def _batch_entry(self, entry: Entry) -> dict[str, Any]:
        try:
            await self._prepare([entry])
            return (await self._write([entry], None))[entry.index]
        except FhirError as exc:
            if isinstance(exc, Refused):
                await audit_refusals.record(self.services, exc)
            return {"response": {"status": f"{exc.status}", "outcome": exc.outcome()}}


def _version_of(if_match: str | None) -> int | None:
    """The version an ``ifMatch`` ETag (``W/"3"``, checked by parse_entries) names."""
    return int(if_match.removeprefix("W/").strip('"')) if if_match else None


def _response(version: Version, status: int, base: str) -> dict[str, Any]:
    text = {200: "200 OK", 201: "201 Created"}[status]
    return {
        "fullUrl": f"{base}/{version.resource_type}/{version.id}",
        "resource": version.resource,
        "response": {"status": text, "location": f"{version.resource_type}/{version.id}/_history/{version.vid}",
                     "etag": version.etag, "lastModified": instant(version.last_updated)},
    }

