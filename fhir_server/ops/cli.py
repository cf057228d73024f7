"""``carespace backup PATH`` and ``carespace restore PATH`` (registered by ``fhir_server.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fhir_server.ops import archive
from fhir_server.ops import backup as snapshots


def _with_database(args: argparse.Namespace, work: Callable[[Any, Any], Awaitable[int]]) -> int:
    """Run ``work(db, settings)`` on the command's database, without the server's start-up work:
    a restore must find the database empty and must not create a signing key."""
    from fhir_server import embedded_db
    from fhir_server.cli import _settings
    from fhir_server.db import Database

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_db.database_for_command(settings.data_dir, settings.mongodb_uri) as (uri, embedded):

        async def main() -> int:
            db = Database(uri, settings.database_name, embedded=embedded)
            try:
                await db.check()
                return await work(db, settings)
            finally:
                await db.close()

        return asyncio.run(main())


def _signing_jwks(data_dir: Path) -> dict[str, Any]:
    from fhir_server.smart import keys

    if not (data_dir / "keys" / "signing-key.pem").exists():
        return {"keys": []}
    return {"keys": [keys.load_or_create(data_dir).public_jwk()]}


def cmd_backup(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.parent.is_dir():
        raise snapshots.BackupError(f"{path.parent} is not a directory; choose where the backup file goes.")
    if path.exists():
        raise snapshots.BackupError(f"{path} already exists; choose a new file name for each backup.")

    async def work(db: Any, settings: Any) -> int:
        jwks = _signing_jwks(settings.data_dir)
        if args.archive and not db.embedded:
            raise snapshots.BackupError("--archive is for the embedded database; back up MongoDB with "
                                        "mongodump, or without --archive.")
        if args.archive:
            summary = await archive.backup(db, path, public_jwks=jwks)
            print(f"Backed up the embedded database (one checkpoint; writes waited meanwhile) to {path} "
                  f"({summary.size / 1e6:.1f} MB) in {summary.seconds:.1f} s.")
        else:
            summary = await snapshots.backup(db, path, public_jwks=jwks)
            print(f"Backed up {summary.documents} documents in {len(summary.counts)} collections to {path} "
                  f"({summary.size / 1e6:.1f} MB) in {summary.seconds:.1f} s.")
        print("The signing key is not in the backup: keep a copy of "
              f"{settings.data_dir / 'keys' / 'signing-key.pem'} in a safe place of its own.")
        return 0

    return _with_database(args, work)


def _restore_archive(args: argparse.Namespace, path: Path) -> tuple[snapshots.Summary, Path]:
    """An embedded archive: unpack it into this data dir's database folder, or -- for
    MONGODB_URI -- into a private one whose database is then copied into MongoDB."""
    from fhir_server import embedded_db
    from fhir_server.cli import _settings
    from fhir_server.db import Database

    settings = _settings(args)
    if not settings.mongodb_uri:
        db_dir = settings.data_dir / "db"
        summary = archive.extract(path, db_dir)
        try:
            with embedded_db.database_for_command(settings.data_dir, None) as (uri, _):
                summary.counts = asyncio.run(_counts(Database(uri, settings.database_name, embedded=True)))
        except BaseException:
            shutil.rmtree(db_dir, ignore_errors=True)  # it was empty: leave it so
            raise
        return summary, settings.data_dir
    mongodb_uri = settings.mongodb_uri

    async def on_mongodb(source_uri: str | None) -> snapshots.Summary:
        target = Database(mongodb_uri, settings.database_name, embedded=False)
        try:
            await target.check()
            if source_uri is None:  # first only: is it empty?
                await snapshots.ensure_empty(target)
                return snapshots.Summary()
            source = Database(source_uri, settings.database_name, embedded=True)
            try:
                return await snapshots.copy(source, target)
            finally:
                await source.close()
        finally:
            await target.close()

    asyncio.run(on_mongodb(None))  # refuse a database with data before unpacking anything
    with tempfile.TemporaryDirectory(prefix="carespace-restore-") as tmp:
        summary = archive.extract(path, Path(tmp) / "db")
        with embedded_db.database_for_command(Path(tmp), None) as (uri, _):
            summary.counts = asyncio.run(on_mongodb(uri)).counts
    return summary, settings.data_dir


async def _counts(db: Any) -> dict[str, int]:
    try:
        names = [n for n in await db.db.list_collection_names() if not n.startswith("system.")]
        return {name: await db.db[name].estimated_document_count() for name in sorted(names)}
    finally:
        await db.close()


def cmd_restore(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise snapshots.BackupError(f"{path} is not a file.")
    started = time.monotonic()
    if archive.is_archive(path):
        summary, data_dir = _restore_archive(args, path)
    else:
        snapshots.verify(path)  # a damaged file is refused before a database is started
        holder: dict[str, Any] = {}

        async def work(db: Any, settings: Any) -> int:
            holder["summary"], holder["data_dir"] = await snapshots.restore(db, path), settings.data_dir
            return 0

        _with_database(args, work)
        summary, data_dir = holder["summary"], holder["data_dir"]
    print(f"Restored {summary.documents} documents in {len(summary.counts)} collections "
          f"from {path} (made {summary.header['created']:%Y-%m-%d %H:%M:%S} UTC) "
          f"in {time.monotonic() - started:.1f} s.")
    kids = {k.get("kid") for k in summary.header["public_jwks"].get("keys", [])}
    here = _signing_jwks(data_dir)["keys"]
    if kids and not (here and here[0]["kid"] in kids):
        print("The backup was made with another signing key: copy that key to "
              f"{data_dir / 'keys' / 'signing-key.pem'} before 'serve' so that issued "
              "tokens stay valid (without it a new key is made and apps must sign in again).")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    backup = sub.add_parser("backup", parents=[common],
                            help="write a consistent, compressed snapshot of the database (also while serving)")
    backup.add_argument("path", help="the backup file to create (it must not exist)")
    backup.add_argument("--archive", action="store_true",
                        help="embedded database: archive its files at one checkpoint instead of reading it in one "
                             "snapshot transaction (faster to restore, but every request waits until it is "
                             "written: for a maintenance window)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", parents=[common], help="load a backup into an empty data dir or database")
    restore.add_argument("path", help="a file written by 'carespace backup'")
    restore.set_defaults(func=cmd_restore)
