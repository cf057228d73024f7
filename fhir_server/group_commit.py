"""Group commit: the small inserts that many requests make on the side (one AuditEvent each)
become one journaled ``insert_many`` per collection, and each request goes on once the batch
holding its document is stored (DESIGN principle 8).

There is no timer: while one batch is being written, the documents handed in meanwhile wait
and go together in the next one. One request alone is written at once; under load a batch
holds about as many documents as requests arrived during the previous write, so the cost of
the journal is shared by all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from fhir_server.ops.metrics import GROUP_COMMIT_BATCH, GROUP_COMMIT_WAITING

Doc = dict[str, Any]
CollectionOf = Callable[[str], Awaitable[AsyncCollection[Doc]]]
MAX_BATCH = 1000


class GroupCommit:
    """Batches inserts per collection; built once per server in ``services.py``."""

    def __init__(self, collection_of: CollectionOf, *, max_batch: int = MAX_BATCH) -> None:
        self._collection_of = collection_of
        self._max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, list[tuple[Doc, asyncio.Future[None]]]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def insert(self, collection: str, doc: Doc) -> None:
        """Store ``doc`` (journaled, with the client's write concern); return once it is stored.
        A failed batch raises its error in every request whose document it held."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a CLI command, a test's server): fresh state
            self._loop, self._pending, self._writers = loop, {}, {}
        done: asyncio.Future[None] = loop.create_future()
        pending = self._pending.setdefault(collection, [])
        pending.append((doc, done))
        GROUP_COMMIT_WAITING.labels(collection).set(len(pending))
        writer = self._writers.get(collection)
        if writer is None or writer.done():
            self._writers[collection] = loop.create_task(self._write(collection))
        # A request cancelled while waiting (its client went away) still has its document written.
        await asyncio.shield(done)

    async def _write(self, collection: str) -> None:
        pending = self._pending[collection]
        while pending:
            batch = pending[: self._max_batch]
            del pending[: self._max_batch]
            GROUP_COMMIT_WAITING.labels(collection).set(len(pending))
            GROUP_COMMIT_BATCH.labels(collection).observe(len(batch))
            try:
                target = await self._collection_of(collection)
                await target.insert_many([doc for doc, _ in batch], ordered=False)
            except asyncio.CancelledError:  # the loop is closing: nobody waits any more
                for _, done in batch:
                    done.cancel()
                raise
            except BulkWriteError as exc:
                # Unordered: the others were written, so only the failed documents' requests fail;
                # a write concern error (not journaled) fails them all.
                failed = {e["index"] for e in exc.details.get("writeErrors", [])}
                unsure = bool(exc.details.get("writeConcernErrors")) or not failed
                for index, (_, done) in enumerate(batch):
                    _settle(done, exc if unsure or index in failed else None)
            except Exception as exc:
                for _, done in batch:
                    _settle(done, exc)
            else:
                for _, done in batch:
                    _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # its request was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
