"""The async MongoDB client, the collections and their indexes.

Resources live in one collection per type (current versions, with their search index
and patient compartments) and one ``history`` collection holding every version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, WriteConcern, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure, PyMongoError

from fhir_server.errors import StartupError

Doc = dict[str, Any]

# Collections that are not FHIR resource types (the type collections are named after types).
HISTORY = "history"
ACCOUNTS = "accounts"
SESSIONS = "sessions"
CLIENTS = "clients"
TOKENS = "tokens"
SERVER_STATE = "server_state"

# Acknowledged means journaled, on every collection, for the embedded database and any
# MongoDB alike (DESIGN principle 7). On SecantusDB "majority" does not imply the journal
# (measured: 87 of 100 acknowledged inserts lost to a kill -9), so ``j`` is always explicit;
# on a replica set "majority" also keeps a write through a primary's failover. These client
# options override whatever ``MONGODB_URI`` says, so a URI cannot weaken them.
DURABLE = WriteConcern(w="majority", j=True)


async def claim(collection: AsyncCollection[Doc], query: dict[str, Any], update: dict[str, Any]) -> Doc | None:
    """``find_one_and_update`` (returning the document after the update) for a query on ``_id``.

    Done as update_one + find_one: on the embedded database find_one_and_update costs about
    100 ms. The update's filter decides atomically who wins; only the winner reads it back.
    """
    result = await collection.update_one(query, update)
    if result.matched_count != 1:
        return None
    return await collection.find_one({"_id": query["_id"]})


async def insert_claim(collection: AsyncCollection[Doc], doc: Doc) -> bool:
    """Insert a document whose ``_id`` is a claim (a lock, "replied once"); whether this insert
    won. ``doc`` carries an ``owner`` of its own: the embedded database sometimes drops the
    connection of a losing insert instead of answering E11000, and then the owner read back says
    who won."""
    try:
        await collection.insert_one(doc)
        return True
    except (DuplicateKeyError, AutoReconnect):
        held = await collection.find_one({"_id": doc["_id"]}, projection={"owner": 1})
        return bool(held and held.get("owner") == doc["owner"])


async def take(collection: AsyncCollection[Doc], doc_id: Any) -> Doc | None:
    """``find_one_and_delete`` by ``_id``: the delete decides atomically who gets the document."""
    doc = await collection.find_one({"_id": doc_id})
    if doc is None or (await collection.delete_one({"_id": doc_id})).deleted_count != 1:
        return None
    return doc


class Database:
    """The handle every part of the server shares."""

    def __init__(self, uri: str, name: str, *, embedded: bool,
                 event_listeners: Sequence[monitoring.CommandListener] = ()) -> None:
        """``event_listeners``: the driver's command listeners (the tests and the bench count
        round trips with them)."""
        options: dict[str, Any] = {"tz_aware": True, "serverSelectionTimeoutMS": 5000,
                                   "w": DURABLE.document["w"], "journal": DURABLE.document["j"],
                                   "event_listeners": list(event_listeners)}
        if embedded:
            options["retryWrites"] = False
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, **options)
        self.db: AsyncDatabase[Doc] = self.client[name]
        self.embedded = embedded
        self._indexed: set[str] = set()
        self._transactions: bool | None = None  # asked once: a deployment's kind needs a restart to change

    def resources(self, resource_type: str) -> AsyncCollection[Doc]:
        return self.db[resource_type]

    def __getitem__(self, name: str) -> AsyncCollection[Doc]:
        return self.db[name]

    @property
    def history(self) -> AsyncCollection[Doc]:
        return self.db[HISTORY]

    async def check(self) -> None:
        """Fail with one sentence when the database does not answer."""
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            reason = exc.__class__.__name__
            raise StartupError(f"MongoDB at the configured address does not answer ({reason}).") from None

    async def supports_transactions(self) -> bool:
        if self._transactions is None:
            hello = await self.client.admin.command("hello")
            self._transactions = bool(hello.get("setName") or hello.get("msg") == "isdbgrid")
        return self._transactions

    async def in_transaction(self, work: Callable[[AsyncClientSession | None], Awaitable[None]]) -> None:
        """Run ``work`` in one transaction (retried as the driver advises); on a standalone
        server, which has none, without one."""
        if not await self.supports_transactions():
            await work(None)
            return
        async with self.client.start_session() as session:
            await session.with_transaction(work)

    async def ensure_indexes(self) -> None:
        """Create the indexes of the non-resource collections (resource types index lazily)."""
        await self.history.create_indexes([
            IndexModel([("t", ASCENDING), ("id", ASCENDING), ("vid", DESCENDING)], unique=True),
            IndexModel([("t", ASCENDING), ("lu", DESCENDING), ("_id", ASCENDING)]),
            IndexModel([("lu", DESCENDING), ("_id", ASCENDING)]),
        ])

    def indexed(self, resource_type: str) -> bool:
        return resource_type in self._indexed

    async def ensure_type_indexes(self, resource_type: str, models: list[IndexModel],
                                  retired: list[str] | None = None) -> None:
        """Create a type collection's indexes once per process (cheap when they exist), and drop
        the ``retired`` ones an earlier version made (each costs every insert an index write)."""
        if resource_type in self._indexed:
            return
        coll = self.resources(resource_type)
        if models:
            await coll.create_indexes(models)
        if retired:
            existing = {ix["name"] async for ix in await coll.list_indexes()}
            for name in sorted(existing & set(retired)):
                with contextlib.suppress(OperationFailure):  # another worker dropped it first
                    await coll.drop_index(name)
        self._indexed.add(resource_type)

    async def close(self) -> None:
        await self.client.close()
