"""The services a running server (or a CLI command) shares, built once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pymongo import monitoring

from fhir_server.config import Settings
from fhir_server.db import Database
from fhir_server.group_commit import GroupCommit
from fhir_server.resources.store import ResourceStore
from fhir_server.smart import keys
from fhir_server.smart.keys import SigningKey
from fhir_server.two_step import SecretBox


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ResourceStore
    key: SigningKey
    # Seals two-step (TOTP) secrets at rest; derived from the signing key.
    secret_box: SecretBox


async def build_services(settings: Settings, *,
                         event_listeners: Sequence[monitoring.CommandListener] = ()) -> Services:
    """Connect to the database (one clear error when it does not answer) and load the key."""
    assert settings.mongodb_uri, "the database address is resolved before services are built"
    db = Database(settings.mongodb_uri, settings.database_name, embedded=settings.embedded_db,
                  event_listeners=event_listeners)
    await db.check()
    await db.ensure_indexes()
    key = keys.load_or_create(settings.data_dir)
    # The one writer of what every request writes on the side (its AuditEvent), batched.
    group_commit = GroupCommit(lambda name: store.collection(name))
    store = ResourceStore(db, base_url=settings.fhir_base, group_commit=group_commit)
    return Services(settings=settings, db=db, store=store, key=key, secret_box=SecretBox.from_signing_key(key))
