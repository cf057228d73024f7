"""The resource repository: the FHIR interactions on MongoDB, versioned and immutable.

Each interaction follows its section of https://hl7.org/fhir/R4/http.html. The current
version of a resource lives in its type's collection (with its search index and patient
compartments, computed here once at write time); every version, including deletions, is
kept in ``history``. A deleted resource leaves its type collection, so searches never see
it, and reads find its tombstone in ``history`` (410 Gone).

Updates are optimistic: the replace filters on the version read, so of two concurrent
updates of one version exactly one matches. Every write goes through :meth:`ResourceStore.write`,
which takes a transaction's or an import batch's changes together: one round trip per kind of
write and type, and one for ``history``, however many resources.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from fhir_server.db import Database
from fhir_server.group_commit import GroupCommit
from fhir_server.resources.errors import conflict, gone, not_found, precondition_failed
from fhir_server.resources.search import index_models, patient_compartments, retired_indexes, stored_index

Resource = dict[str, Any]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def instant(moment: datetime) -> str:
    """A FHIR instant with millisecond precision, as MongoDB stores it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Version:
    """One stored version of a resource."""

    resource_type: str
    id: str
    vid: int
    last_updated: datetime
    resource: Resource | None  # None for a deletion
    compartments: list[str] | None = None  # as stored with the current version (None: not read)

    @property
    def etag(self) -> str:
        return f'W/"{self.vid}"'

    @property
    def deleted(self) -> bool:
        return self.resource is None


@dataclass
class Changes:
    """What one write stores. ``deletes``: the current versions to remove (a version that
    changed since it was read fails the write, 409); ``creates``: new versions (1, or the next
    after a deleted life); ``replaces``: new versions of what is now at ``vid - 1`` (412 if it is
    not). Each kind is one round trip per type; every version goes to ``history`` in one more."""

    deletes: list[Version] = field(default_factory=list)
    creates: list[Version] = field(default_factory=list)
    replaces: list[Version] = field(default_factory=list)


class ResourceStore:
    """The FHIR interactions on one database. Access checks happen before these calls."""

    def __init__(self, db: Database, *, base_url: str, clock: Clock = utcnow,
                 id_factory: Callable[[], str] = new_id, group_commit: GroupCommit | None = None) -> None:
        self.db = db
        self.base_url = base_url
        self.clock = clock
        self.new_id = id_factory
        self.group_commit = group_commit

    async def collection(self, resource_type: str):  # type: ignore[no-untyped-def]
        if not self.db.indexed(resource_type):  # building the index models is not free: once
            await self.db.ensure_type_indexes(resource_type, index_models(resource_type),
                                              retired_indexes(resource_type))
        return self.db.resources(resource_type)

    # -- read (http.html#read, #vread) ---------------------------------------------------

    async def find_current(self, resource_type: str, resource_id: str,
                           session: AsyncClientSession | None = None) -> Version | None:
        # The whole stored document: on the embedded database a projection costs more than the
        # 2 KB of ``idx`` it would leave out (measured: find_one 2.0 ms, without idx 3.4 ms).
        doc = await self.db.resources(resource_type).find_one({"_id": resource_id}, session=session)
        return _current_version(resource_type, doc) if doc else None

    async def current_versions(self, resource_type: str, resource_ids: list[str]) -> dict[str, Version]:
        """The current versions of many resources of one type, by id, in one query."""
        found = self.db.resources(resource_type).find({"_id": {"$in": resource_ids}})
        return {doc["_id"]: _current_version(resource_type, doc) async for doc in found}

    async def last_vids(self, resource_type: str, resource_ids: list[str]) -> dict[str, int]:
        """The newest ``history`` version of each id that has one (a resource deleted, or
        created again later, continues its version line), in one query."""
        newest: dict[str, int] = {}
        async for doc in self.db.history.find({"t": resource_type, "id": {"$in": resource_ids}},
                                              projection={"id": 1, "vid": 1}):
            newest[doc["id"]] = max(newest.get(doc["id"], 0), doc["vid"])
        return newest

    async def read(self, resource_type: str, resource_id: str) -> Version:
        current = await self.find_current(resource_type, resource_id)
        if current:
            return current
        last = await self._last_history(resource_type, resource_id)
        if last and last.deleted:
            raise gone(resource_type, resource_id)
        raise not_found(resource_type, resource_id)

    async def vread(self, resource_type: str, resource_id: str, vid: int) -> Version:
        doc = await self.db.history.find_one({"_id": _history_id(resource_type, resource_id, vid)})
        if doc is None:
            current = await self.find_current(resource_type, resource_id)
            if current and current.vid == vid:
                return current
            raise not_found(resource_type, f"{resource_id}/_history/{vid}")
        version = _history_version(doc)
        if version.deleted:
            raise gone(resource_type, f"{resource_id}/_history/{vid}")
        return version

    async def last_content(self, resource_type: str, resource_id: str) -> Version | None:
        """The newest version that is not a deletion (what a deleted resource last was)."""
        async for doc in self.db.history.find({"t": resource_type, "id": resource_id}).sort([("vid", -1)]).limit(3):
            if doc.get("res") is not None:
                return _history_version(doc)
        return None

    # -- write (http.html#create, #update, #delete) ----------------------------------------

    async def create(self, resource: Resource, *, resource_id: str | None = None,
                     session: AsyncClientSession | None = None, fresh: bool = False) -> Version:
        """Create; ``fresh`` skips the look for an earlier (deleted) life of a server id."""
        resource_type = resource["resourceType"]
        if resource_id is None:
            resource_id, fresh = self.new_id(), True
        last = None if fresh else await self._last_history(resource_type, resource_id, session)
        version = self.stamp(resource, resource_id, last.vid + 1 if last else 1)
        await self.write(Changes(creates=[version]), session)
        return version

    async def append(self, resource: Resource) -> Version:
        """Store one of the server's own append-only records (an AuditEvent, one per request):
        a fresh id, version 1 as its current document and no ``history`` copy (vread and
        instance history read it back), written with the other requests' records in one
        journaled group commit when the store has one."""
        version = self.stamp(resource, self.new_id(), 1)
        doc = self._current_doc(version)
        if self.group_commit is not None:
            await self.group_commit.insert(version.resource_type, doc)
        else:
            await (await self.collection(version.resource_type)).insert_one(doc)
        return version

    async def update(self, resource: Resource, resource_id: str, *, if_match: int | None = None,
                     session: AsyncClientSession | None = None) -> tuple[Version, bool]:
        """Update (or create with the client's id). Returns the version and whether it was created."""
        resource_type = resource["resourceType"]
        current = await self.find_current(resource_type, resource_id, session)
        check_if_match(resource_type, resource_id, current, if_match)
        if current is None:
            return await self.create(resource, resource_id=resource_id, session=session), True
        version = self.stamp(resource, resource_id, current.vid + 1)
        await self.write(Changes(replaces=[version]), session)
        return version, False

    async def delete(self, current: Version, session: AsyncClientSession | None = None) -> None:
        """Delete the version the caller read (and checked access against); 409 if another
        request changed or deleted it since."""
        await self.write(Changes(deletes=[current]), session)

    async def write(self, changes: Changes, session: AsyncClientSession | None = None) -> None:
        """Store ``changes`` (see :class:`Changes`); inside ``session``'s transaction when given,
        so that a failing part takes the others back with it."""
        for resource_type, versions in _by_type(changes.deletes).items():
            result = await self.db.resources(resource_type).bulk_write(
                [DeleteOne({"_id": v.id, "vid": v.vid}) for v in versions], session=session)
            if result.deleted_count != len(versions):
                changed = await self._changed(resource_type, versions, 0, session)
                raise conflict(f"{resource_type}/{changed} was changed by another request during the delete.")
        for resource_type, versions in _by_type(changes.creates).items():
            coll = await self.collection(resource_type)
            taken = await _insert(coll, [self._current_doc(v) for v in versions], session)
            if taken:
                raise conflict(f"{resource_type}/{taken[0]} was created by another request at the same time.")
        for resource_type, versions in _by_type(changes.replaces).items():
            coll = await self.collection(resource_type)
            result = await coll.bulk_write(
                [ReplaceOne({"_id": v.id, "vid": v.vid - 1}, self._current_doc(v)) for v in versions], session=session)
            if result.matched_count != len(versions):
                changed = await self._changed(resource_type, versions, 1, session)
                raise precondition_failed(
                    f"{resource_type}/{changed} was changed by another request; read it again and retry.")
        moment = self.clock()
        tombstones = [Version(v.resource_type, v.id, v.vid + 1, moment, None) for v in changes.deletes]
        versions = [*tombstones, *changes.creates, *changes.replaces]
        if versions:  # a version already there is a retried write's: not an error
            await _insert(self.db.history, [_history_doc(v) for v in versions], session, ordered=False)

    # -- history (http.html#history) ---------------------------------------------------------

    async def history(self, resource_type: str | None, resource_id: str | None, *,
                      since: datetime | None, count: int, before: tuple[datetime, str] | None
                      ) -> list[Version]:
        """Versions newest first; ``before`` is the keyset cursor (lastUpdated, history id)."""
        query: dict[str, Any] = {}
        if resource_type and resource_id:
            query = {"t": resource_type, "id": resource_id}
            cursor = self.db.history.find(query).sort([("vid", -1)])
        else:
            if resource_type:
                query["t"] = resource_type
            bound: dict[str, Any] = {}
            if since:
                bound["$gte"] = since
            if before:
                # "$lt" the next millisecond, not "$lte": SecantusDB's compound-index scan drops
                # keys equal to an $lte bound.
                bound["$lt"] = before[0] + timedelta(milliseconds=1)
            if bound:
                query["lu"] = bound
            cursor = self.db.history.find(query).sort([("lu", -1), ("_id", 1)])
        versions: list[Version] = []
        async for doc in cursor:
            if resource_id and since and doc["lu"] < since:
                break
            if before and doc["lu"] == before[0] and doc["_id"] <= before[1]:
                continue  # keyset: the previous page ended inside this instant
            versions.append(_history_version(doc))
            if len(versions) >= count + 1:
                break
        if resource_type and resource_id and not versions and before is None:
            current = await self.find_current(resource_type, resource_id)
            if current:  # an append-only record stored without a history copy
                versions.append(current)
        return versions

    # -- internals ---------------------------------------------------------------------------

    def stamp(self, resource: Resource, resource_id: str, vid: int) -> Version:
        """Version ``vid`` of ``resource`` under ``resource_id``, its meta set, as of now."""
        moment = self.clock()
        stamped = dict(resource)
        stamped["id"] = resource_id
        meta = dict(stamped.get("meta") or {})
        meta["versionId"] = str(vid)
        meta["lastUpdated"] = instant(moment)
        stamped["meta"] = meta
        # MongoDB keeps milliseconds: store exactly what the resource says.
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        return Version(resource["resourceType"], resource_id, vid, moment, stamped)

    def _current_doc(self, version: Version) -> dict[str, Any]:
        assert version.resource is not None
        return {
            "_id": version.id,
            "res": version.resource,
            "vid": version.vid,
            "lu": version.last_updated,
            "comp": patient_compartments(version.resource, self.base_url),
            "idx": stored_index(version.resource, self.base_url),
        }

    async def _changed(self, resource_type: str, versions: list[Version], offset: int,
                       session: AsyncClientSession | None) -> str:
        """The id of the first of ``versions`` whose stored version is no longer ``vid - offset``."""
        stored = {doc["_id"]: doc["vid"] async for doc in self.db.resources(resource_type).find(
            {"_id": {"$in": [v.id for v in versions]}}, projection={"vid": 1}, session=session)}
        return next((v.id for v in versions if stored.get(v.id) != v.vid - offset), versions[0].id)

    async def _last_history(self, resource_type: str, resource_id: str,
                            session: AsyncClientSession | None = None) -> Version | None:
        doc = await self.db.history.find_one(
            {"t": resource_type, "id": resource_id}, sort=[("vid", -1)], session=session)
        return _history_version(doc) if doc else None


def check_if_match(resource_type: str, resource_id: str, current: Version | None, if_match: int | None) -> None:
    """412 unless the version an update was asked to replace (``If-Match``) is the current one."""
    if if_match is None:
        return
    if current is None:
        raise precondition_failed(f"{resource_type}/{resource_id} does not exist; If-Match cannot hold.")
    if if_match != current.vid:
        raise precondition_failed(f"{resource_type}/{resource_id} is at version {current.vid}, not {if_match}.")


def _by_type(versions: list[Version]) -> dict[str, list[Version]]:
    grouped: dict[str, list[Version]] = {}
    for version in versions:
        grouped.setdefault(version.resource_type, []).append(version)
    return grouped


async def _insert(coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]],
                  session: AsyncClientSession | None, *, ordered: bool = True) -> list[str]:
    """Insert ``docs``; returns the ids found already taken (any other failure raises). One
    document goes by ``insert_one``: the driver's bulk path costs it more CPU
    (``bench.db_work --only single``)."""
    try:
        if len(docs) == 1:
            await coll.insert_one(docs[0], session=session)
        else:
            await coll.insert_many(docs, ordered=ordered, session=session)
    except DuplicateKeyError:
        return [str(docs[0]["_id"])]
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if not errors or any(error.get("code") != 11000 for error in errors):
            raise
        return [str((error.get("op") or {}).get("_id", "?")) for error in errors]
    return []


def _history_id(resource_type: str, resource_id: str, vid: int) -> str:
    return f"{resource_type}/{resource_id}/{vid}"


def _history_doc(version: Version) -> dict[str, Any]:
    return {
        "_id": _history_id(version.resource_type, version.id, version.vid),
        "t": version.resource_type,
        "id": version.id,
        "vid": version.vid,
        "lu": version.last_updated,
        "res": version.resource,
    }


def _current_version(resource_type: str, doc: dict[str, Any]) -> Version:
    return Version(resource_type, doc["_id"], doc["vid"], doc["lu"].astimezone(UTC), doc["res"], doc.get("comp"))


def _history_version(doc: dict[str, Any]) -> Version:
    return Version(doc["t"], doc["id"], doc["vid"], doc["lu"].astimezone(UTC), doc.get("res"))
