"""Backup of the embedded database: SecantusDB's own checkpoint archive of its WiredTiger home.

``carespace backup --archive``, for a maintenance window. The default, logical backup
(``backup.py``) reads one snapshot transaction while requests go on, and restores by re-inserting
every document. ``secantusAdmin.backupArchive`` instead forces a
WiredTiger checkpoint and tars the files WiredTiger's ``backup:`` cursor names: one consistent
instant at any size, restored by unpacking files. Measured on SecantusDB 0.7.0b3 (2026-11-28):
the server holds its storage lock from the checkpoint to the end of the tar, so reads and
writes *wait* (they are not refused or lost) while the archive is written -- 1M documents,
1.9 GB: 311 s on 2 busy cores (``python -m bench.backup --documents 1000000``).

File: an uncompressed tar of two members, ``carespace-backup.json`` (what the logical header
holds: format, when, the signing key's public half) and ``database.tar.gz`` (SecantusDB's
archive, unchanged). Restore unpacks it into ``<data-dir>/db`` of a data dir that has no
database yet, or -- for MONGODB_URI -- opens it with a private SecantusDB and copies it over.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from fhir_server.db import Database
from fhir_server.ops.backup import FORMAT, BackupError, Summary

KIND = "embedded"
VERSION = 2
HEADER = "carespace-backup.json"
DATABASE = "database.tar.gz"
# WiredTiger's metadata file: present in every archive of a WiredTiger home.
WT_METADATA = "WiredTiger"


def is_archive(path: Path) -> bool:
    """A tar whose first member is our header (a logical backup is a gzip stream instead)."""
    try:
        with tarfile.open(path, "r:") as outer:
            first = outer.next()
            return first is not None and first.name == HEADER
    except (OSError, tarfile.TarError):
        return False


async def backup(db: Database, path: Path, *, public_jwks: dict[str, Any]) -> Summary:
    """Have the embedded server archive itself, then wrap that with our header (atomically:
    a partial file never has the final name). Blocking file I/O: the CLI's loop serves nothing else."""
    if path.exists():  # noqa: ASYNC240
        raise BackupError(f"{path} already exists; choose a new file name for each backup.")
    started = time.monotonic()
    # The server writes its archive into a private directory next to the target (same disk,
    # so no second copy across file systems; 0700 because it holds patient records).
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent.resolve()))
    inner, partial = work / DATABASE, path.with_name(path.name + ".partial")
    try:
        try:
            reply = await db.client.admin.command({"secantusAdmin.backupArchive": 1, "outputPath": str(inner)})
            build = await db.client.admin.command("buildInfo")
        except OperationFailure as exc:
            raise BackupError(f"The embedded database could not archive itself: {exc.details or exc}.") from None
        except PyMongoError as exc:
            raise BackupError("The backup failed: the database stopped answering "
                              f"({exc.__class__.__name__}).") from None
        header = {"format": FORMAT, "version": VERSION, "kind": KIND, "database": db.db.name,
                  "created": datetime.now(UTC).isoformat(), "engine": f"SecantusDB {build.get('version', '?')}",
                  "public_jwks": public_jwks}
        _wrap(partial, header, inner)
        os.replace(partial, path)
        summary = Summary(header=header, size=path.stat().st_size)  # noqa: ASYNC240
        summary.header["archive_bytes"] = int(reply.get("sizeBytes", 0))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary.seconds = time.monotonic() - started
    return summary


def _wrap(partial: Path, header: dict[str, Any], inner: Path) -> None:
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        with tarfile.open(fileobj=file, mode="w:") as outer:
            data = json.dumps(header).encode()
            info = tarfile.TarInfo(HEADER)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            outer.addfile(info, io.BytesIO(data))
            info = outer.gettarinfo(str(inner), arcname=DATABASE)
            info.mode = 0o600
            with inner.open("rb") as source:
                outer.addfile(info, source)
        file.flush()
        os.fsync(file.fileno())


def _header(outer: tarfile.TarFile, path: Path) -> dict[str, Any]:
    member = outer.next()
    stream = outer.extractfile(member) if member is not None and member.name == HEADER else None
    if stream is None:
        raise BackupError(f"{path} is not a CareSpace backup.")
    try:
        header = json.loads(stream.read())
    except ValueError:
        raise BackupError(f"{path} is damaged or incomplete (its header is not JSON).") from None
    if header.get("format") != FORMAT or header.get("kind") != KIND:
        raise BackupError(f"{path} is not a CareSpace backup.")
    if header.get("version", 0) > VERSION:
        raise BackupError(f"{path} was written by a newer CareSpace (format {header['version']}).")
    header["created"] = datetime.fromisoformat(header["created"])
    return header


@contextlib.contextmanager
def _database_stream(path: Path) -> Iterator[tuple[dict[str, Any], tarfile.TarFile]]:
    """The header, and the inner archive opened as a stream (read once, front to back)."""
    try:
        with tarfile.open(path, "r:") as outer:
            header = _header(outer, path)
            member = outer.next()
            data = outer.extractfile(member) if member is not None and member.name == DATABASE else None
            if data is None:
                raise BackupError(f"{path} is incomplete: it holds no database archive.")
            with tarfile.open(fileobj=data, mode="r|gz") as inner:
                yield header, inner
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise BackupError(f"{path} is damaged or incomplete ({exc.__class__.__name__}).") from None


def verify(path: Path) -> Summary:
    """Read the whole file once (every byte of the compressed archive, so a truncated or
    corrupted file is found before anything is written)."""
    with _database_stream(path) as (header, inner):
        names = set()
        for member in inner:
            names.add(member.name)
            if member.isfile():
                source = inner.extractfile(member)
                while source is not None and source.read(1 << 20):
                    pass
    if WT_METADATA not in names:
        raise BackupError(f"{path} is not a CareSpace backup (its archive holds no database).")
    return Summary(header=header, size=path.stat().st_size)


def extract(path: Path, db_dir: Path) -> Summary:
    """Unpack the database into ``db_dir``, which must not exist or be empty. The files go to a
    sibling directory first and take ``db_dir``'s name only when all are written."""
    summary = verify(path)
    if db_dir.exists() and any(db_dir.iterdir()):
        raise BackupError(f"The data directory {db_dir.parent} already holds data ({db_dir}); "
                          "restore only into a new, empty data directory.")
    staging = db_dir.with_name(db_dir.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    try:
        with _database_stream(path) as (_, inner):
            inner.extractall(staging, filter="data")
        with contextlib.suppress(FileNotFoundError):
            db_dir.rmdir()  # empty (checked above)
        os.replace(staging, db_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary
