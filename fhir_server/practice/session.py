"""Staff sessions: the portal's server-side sessions (``portal.sessions``) under their own
cookie and collection, so a staff sign-in and a patient sign-in in one browser never mix.

A staff session has a stage. ``code``: the password was right, the one-time code is still to
come; ``enrol``: a new (or reset) staff member who must set up two-step before anything else;
``in``: signed in. Only ``in`` opens the console's pages; the stage only ever moves to ``in``
through a new session (a new id, against fixation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from fhir_server.access import Caller, staff_may
from fhir_server.portal import sessions
from fhir_server.portal.sessions import services_of
from fhir_server.practice import staff as staff_store
from fhir_server.practice.staff import STAFF_SESSIONS, Staff

COOKIE = "carespace_practice"
CODE, ENROL, IN = "code", "enrol", "in"
HOME = "/practice/inbox"


class StaffLoginRequired(Exception):
    """A console page without a signed-in staff member: the handler redirects to the sign-in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Console:
    """The signed-in staff member of this request and their one-door caller."""

    staff: Staff
    caller: Caller

    def may(self, action: str) -> bool:
        return staff_may(self.caller, action)


async def start(request: Request, response: Response, member: Staff, stage: str, **extra: Any) -> None:
    await sessions.start(request, response, member, cookie=COOKIE, collection=STAFF_SESSIONS, stage=stage, **extra)


async def end(request: Request, response: Response) -> None:
    await sessions.end(request, response, cookie=COOKIE, collection=STAFF_SESSIONS)


async def current(request: Request) -> tuple[Staff, dict[str, Any]] | None:
    """The staff member behind this request's session (any stage), with the session."""
    doc = await sessions.live_session(request, cookie=COOKIE, collection=STAFF_SESSIONS)
    if not doc:
        return None
    member = await staff_store.get(services_of(request).db, str(doc["account_id"]))
    return (member, doc) if member else None


async def update(request: Request, changes: dict[str, Any]) -> None:
    raw = request.cookies.get(COOKIE) or ""
    await services_of(request).db[STAFF_SESSIONS].update_one({"_id": sessions.digest(raw)}, {"$set": changes})


async def end_all_others(request: Request, staff_id: str) -> int:
    return await sessions.end_all_others(services_of(request).db, staff_id, None, collection=STAFF_SESSIONS)


async def signed_in(request: Request) -> Console:
    """Dependency of every console page behind sign-in (two steps done)."""
    found = await current(request)
    if found is None or found[1].get("stage") != IN:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise StaffLoginRequired(target)
    member = found[0]
    console = Console(member, member.caller)
    request.state.console = console  # the console's layout shows who is signed in
    return console


ConsoleDep = Annotated[Console, Depends(signed_in)]


def safe_next(value: str | None) -> str:
    """``next`` only when it is a console page on this site."""
    target = sessions.safe_next(value, HOME)
    return target if target.startswith("/practice/") else HOME
