"""The logical backup, the default everywhere: one consistent, compressed snapshot of the database.

Requests go on while it reads. ``--archive`` (``archive.py``) is the embedded database's own
checkpoint archive, for a maintenance window. ``copy`` also loads an embedded archive into a
MongoDB.

Consistency: every collection is read inside one read-only transaction with read concern
``snapshot``, so the backup is the database as it was at one instant, while the server keeps
writing. Measured on SecantusDB 0.7.0b3 (2026-11-28): a snapshot transaction does not see
writes made after it started, also in collections created later (they read as empty);
``atClusterTime`` and snapshot *sessions* are accepted but not honoured (later writes show),
so one transaction is the only snapshot it offers. SecantusDB reaps a transaction that idles
for 60 s (its transactions.py: ``last_use``, renewed by every statement), and MongoDB bounds one
with ``transactionLifetimeLimitSeconds``: a transaction ended under the backup fails it with a
clear message rather than producing an inconsistent copy.

Format: a gzip stream of BSON records: a header, then for each collection its indexes and its
documents (raw BSON, never decoded: dates, binaries and GridFS chunks survive exactly), then an
end record with each collection's count that restore checks before it writes anything.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from fhir_server.db import SERVER_STATE, Database
from fhir_server.errors import StartupError

FORMAT = "carespace-backup"
VERSION = 1
BATCH = 1000
RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
# Index fields that describe the index rather than define it.
_INDEX_META = {"v", "ns", "key", "name"}


class BackupError(StartupError):
    """A backup or restore that cannot be done, said in one sentence."""


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    size: int = 0
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(self.counts.values())


def _write(out: IO[bytes], record: dict[str, Any]) -> None:
    out.write(bson.encode(record))


async def backup(db: Database, path: Path, *, public_jwks: dict[str, Any]) -> Summary:
    """Write the whole database to ``path`` (atomically: a partial file never has its name).

    Run by a CLI command whose loop serves nothing else, so plain blocking file I/O is fine."""
    if path.exists():  # noqa: ASYNC240
        raise BackupError(f"{path} already exists; choose a new file name for each backup.")
    partial = path.with_name(path.name + ".partial")
    started = time.monotonic()
    summary = Summary()
    raw_db = db.client.get_database(db.db.name, codec_options=RAW)
    try:
        # 0600: a backup holds patient records and password hashes.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file, gzip.GzipFile(fileobj=file, mode="wb", compresslevel=6) as out:
            _write(out, {"k": "header", "format": FORMAT, "version": VERSION, "database": db.db.name,
                         "created": datetime.now(UTC), "public_jwks": public_jwks})
            async with db.client.start_session() as session:
                await session.start_transaction(read_concern=ReadConcern("snapshot"))
                # The snapshot is taken at the transaction's first read; only then list the
                # collections (listCollections is refused inside a transaction), so every
                # collection that holds data in the snapshot is in the list.
                await raw_db[SERVER_STATE].find_one({}, session=session)
                names = sorted(n for n in await db.db.list_collection_names() if not n.startswith("system."))
                for name in names:
                    indexes = [dict(ix) async for ix in await db.db[name].list_indexes()]
                    _write(out, {"k": "collection", "name": name, "indexes": indexes})
                    count = 0
                    async for doc in raw_db[name].find({}, session=session, batch_size=BATCH):
                        _write(out, {"k": "doc", "d": doc})
                        count += 1
                    summary.counts[name] = count
                await session.commit_transaction()
            _write(out, {"k": "end", "counts": summary.counts})
        with partial.open("rb") as done:
            os.fsync(done.fileno())
        os.replace(partial, path)
    except OperationFailure as exc:
        partial.unlink(missing_ok=True)
        if exc.has_error_label("TransientTransactionError"):
            raise BackupError(
                "The database ended the snapshot transaction before the whole database was read; "
                "for the embedded database use 'carespace backup --archive' at a quiet hour, for "
                "MongoDB its own backup tools.") from None
        raise BackupError(f"The backup failed: {exc.__class__.__name__}: {exc.details or exc}") from None
    except PyMongoError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"The backup failed: the database stopped answering ({exc.__class__.__name__}).") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary.seconds = time.monotonic() - started
    summary.size = path.stat().st_size  # noqa: ASYNC240
    return summary


def _records(path: Path) -> Iterator[RawBSONDocument]:
    with gzip.open(path, "rb") as stream:
        yield from bson.decode_file_iter(stream, codec_options=RAW)


def verify(path: Path) -> Summary:
    """Read the whole file once: right format, not truncated, counts as recorded."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    summary, current, ended = Summary(), None, False
    try:
        for record in _records(path):
            kind = record["k"]
            if not summary.header:
                if kind != "header" or record.get("format") != FORMAT:
                    raise BackupError(f"{path} is not a CareSpace backup.")
                if record["version"] > VERSION:
                    raise BackupError(f"{path} was written by a newer CareSpace (format {record['version']}).")
                summary.header = {k: record[k] for k in ("database", "created", "version")}
                summary.header["public_jwks"] = bson.decode(record["public_jwks"].raw)
            elif kind == "collection":
                current = record["name"]
                summary.counts[current] = 0
            elif kind == "doc" and current is not None:
                summary.counts[current] += 1
            elif kind == "end":
                ended = dict(record["counts"]) == summary.counts
    except (OSError, EOFError, bson.errors.InvalidBSON) as exc:
        raise BackupError(f"{path} is damaged or incomplete ({exc.__class__.__name__}).") from None
    if not summary.header:
        raise BackupError(f"{path} is not a CareSpace backup.")
    if not ended:
        raise BackupError(f"{path} is incomplete: its end record is missing or its counts do not match.")
    return summary


async def ensure_empty(db: Database) -> None:
    for name in await db.db.list_collection_names():
        if not name.startswith("system.") and await db.db[name].find_one({}, projection={"_id": 1}):
            raise BackupError(f"The database '{db.db.name}' already holds data (collection '{name}'); "
                              "restore only into an empty data directory or database.")


async def restore(db: Database, path: Path) -> Summary:
    """Check the file, then load it into an empty database."""
    summary = verify(path)
    await ensure_empty(db)
    started = time.monotonic()
    await _load(db, _records(path))
    summary.seconds = time.monotonic() - started
    return summary


async def copy(source: Database, target: Database) -> Summary:
    """Copy a database no one writes to (a restored embedded archive) into an empty one."""
    await ensure_empty(target)
    started, summary = time.monotonic(), Summary()
    raw = source.client.get_database(source.db.name, codec_options=RAW)

    async def records() -> AsyncIterator[RawBSONDocument]:
        for name in sorted(n for n in await source.db.list_collection_names() if not n.startswith("system.")):
            indexes = [dict(ix) async for ix in await source.db[name].list_indexes()]
            summary.counts[name] = 0
            yield RawBSONDocument(bson.encode({"k": "collection", "name": name, "indexes": indexes}))
            async for doc in raw[name].find({}, batch_size=BATCH):
                summary.counts[name] += 1
                yield RawBSONDocument(bson.encode({"k": "doc", "d": doc}))

    try:
        await _load(target, records())
    except PyMongoError as exc:
        raise BackupError(f"The copy stopped part-way ({exc.__class__.__name__}); empty the "
                          "database before trying again.") from None
    summary.seconds = time.monotonic() - started
    return summary


async def _load(db: Database, records: Iterable[RawBSONDocument] | AsyncIterator[RawBSONDocument]) -> None:
    """Documents first, then indexes (a TTL index then sweeps what expired since the backup,
    as it would have)."""
    raw_db = db.client.get_database(db.db.name, codec_options=RAW)
    pending: list[RawBSONDocument] = []
    current: str | None = None
    indexes: dict[str, list[dict[str, Any]]] = {}

    async def flush() -> None:
        if pending and current is not None:
            await raw_db[current].insert_many(pending, ordered=True)
            pending.clear()

    async def each() -> AsyncIterator[RawBSONDocument]:
        if isinstance(records, Iterable):
            for record in records:
                yield record
        else:
            async for record in records:
                yield record

    try:
        async for record in each():
            kind = record["k"]
            if kind == "collection":
                await flush()
                current = record["name"]
                indexes[current] = [bson.decode(ix.raw) for ix in record["indexes"]]
                if current not in await db.db.list_collection_names(filter={"name": current}):
                    await db.db.create_collection(current)
            elif kind == "doc":
                pending.append(record["d"])
                if len(pending) >= BATCH:
                    await flush()
        await flush()
        for name, specs in indexes.items():
            wanted = [{"key": s["key"], "name": s["name"], **{k: v for k, v in s.items() if k not in _INDEX_META}}
                      for s in specs if s["name"] != "_id_"]
            if wanted:
                await db.db.command({"createIndexes": name, "indexes": wanted})
    except PyMongoError as exc:
        raise BackupError(f"The restore stopped part-way ({exc.__class__.__name__}: {exc}); empty the "
                          "database before trying again.") from None
