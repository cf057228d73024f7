"""Refused attempts leave a trace, without letting a flood of them fill the database.

Every refusal by the one door (``access.Refused``: another patient's data, a scope the token
lacks, the records access rests on) becomes an AuditEvent with outcome minor (4) or serious (8)
failure, the agent, and what was asked. A caller hammering the door gets at most one event per
reason per window; the refusals in between are counted and the count goes into that caller's
next event for the same reason. All callers together write at most ``overall`` events per window.
An event never names the patient whose data was asked for as an entity (that would put a
stranger's attempt in that patient's compartment); the description says what was asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fhir_server import audit
from fhir_server.access import INTERACTION_NAMES, Refused
from fhir_server.services import Services

log = logging.getLogger("carespace.audit")
AUDIT_INTERACTIONS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search-type"}


@dataclass
class _Slot:
    started: float
    counted: int = 0


class Throttle:
    """At most one event per key per ``window`` seconds, and ``overall`` per window in all."""

    def __init__(self, *, window: float = 60.0, overall: int = 200, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.overall, self.max_keys, self.clock = window, overall, max_keys, clock
        self._slots: dict[tuple[object, ...], _Slot] = {}
        self._window_start, self._written = clock(), 0

    def admit(self, key: tuple[object, ...]) -> int | None:
        """None: only count this refusal. Otherwise write an event, which also reports the
        returned number of refusals of this key counted since its last event."""
        now = self.clock()
        if now - self._window_start >= self.window:
            self._window_start, self._written = now, 0
        slot = self._slots.get(key)
        if slot is not None and (now - slot.started < self.window or self._written >= self.overall):
            slot.counted += 1
            return None
        if self._written >= self.overall:
            self._remember(key, _Slot(now, 1))
            return None
        carried = slot.counted if slot else 0
        self._remember(key, _Slot(now))
        self._written += 1
        return carried

    def _remember(self, key: tuple[object, ...], slot: _Slot) -> None:
        self._slots.pop(key, None)
        self._slots[key] = slot
        while len(self._slots) > self.max_keys:  # the oldest keys go first (dicts keep order)
            self._slots.pop(next(iter(self._slots)))


THROTTLE = Throttle()


async def record(services: Services, refused: Refused, *, throttle: Throttle = THROTTLE) -> None:
    """Audit one refusal (or count it). Never raises: the caller is answering a refusal."""
    caller = refused.caller
    key = (caller.kind, caller.subject, caller.client_id, caller.fhir_user, refused.status,
           refused.interaction, refused.resource_type)
    counted = throttle.admit(key)
    if counted is None:
        return
    asked = f"{INTERACTION_NAMES.get(refused.interaction, refused.interaction)} {refused.what}"
    description = f"Refused ({refused.status}) {asked}: {refused.diagnostics}"
    if counted:
        description += f" ({counted} more refusals like this since the last event were counted, not recorded.)"
    entities = [refused.what] if refused.resource_id and refused.resource_type != "Patient" else []
    try:
        await audit.record(services.store, caller, AUDIT_INTERACTIONS.get(refused.interaction, "operation"),
                           patients=[], entities=entities, outcome="serious" if refused.serious else "minor",
                           description=description)
    except Exception:
        log.exception("a refusal could not be audited")
