"""The care team's inbox: patients' messages as threads, newest activity first, from one
indexed search of the most recent Communications (``_sort=-sent``, optionally by category).

Pure grouping here; reads and writes are in ``routes_inbox``. A thread is the messages linked
by ``inResponseTo`` and by ``about`` — a practice answer is a new practice message *about* the
patient's message, not an ``inResponseTo`` reply, because the portal lets a patient answer a
practice message once but never a reply. A thread is in the inbox when a patient (or someone
acting for them) wrote in it; it is *unread* while a patient-side message has no ``received``
(set when a staff member opens it), *answered* when the practice wrote last, and *done* when
its latest patient-side message carries the done tag (a new patient message reopens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server.portal.messages import threads
from fhir_server.portal.messages.threads import Message

DONE_TAG = {"system": "https://carespace.example.org/practice-inbox", "code": "done", "display": "Done"}
WINDOW = 200  # the most recent messages the inbox groups (a small practice's weeks of mail)
STATES = {"open": "Open", "unread": "Unread", "unanswered": "Not answered", "answered": "Answered", "done": "Done",
          "all": "All"}


def about_ids(comm: dict[str, Any], base_url: str = "") -> list[str]:
    refs = [threads.relative(r.get("reference"), base_url) for r in comm.get("about") or []]
    return [r.removeprefix("Communication/") for r in refs if r.startswith("Communication/")]


def is_done(comm: dict[str, Any]) -> bool:
    return any(t.get("system") == DONE_TAG["system"] and t.get("code") == DONE_TAG["code"]
               for t in (comm.get("meta") or {}).get("tag") or [])


def patient_of(comm: dict[str, Any], base_url: str = "") -> str:
    ref = threads.relative((comm.get("subject") or {}).get("reference"), base_url)
    if ref.startswith("Patient/"):
        return ref.removeprefix("Patient/")
    for recipient in threads.recipients_of(comm, base_url):
        if recipient.startswith("Patient/"):
            return recipient.removeprefix("Patient/")
    return ""


@dataclass(frozen=True)
class Thread:
    id: str  # the first message's id (the thread's address)
    patient_id: str
    patient_name: str
    subject: str
    category: str
    messages: list[dict[str, Any]]  # oldest first
    last_sent: str
    unread: bool
    answered: bool
    done: bool

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]


def _sent_key(comm: dict[str, Any]) -> str:
    return str(comm.get("sent") or "")


def group(comms: list[dict[str, Any]], base_url: str = "") -> list[Thread]:
    """Threads with a patient-side message among ``comms``, latest activity first."""
    live = [c for c in comms if c.get("status") != "entered-in-error"]
    by_id = {str(c.get("id")): c for c in live}
    parent: dict[str, str] = {}

    def root(cid: str) -> str:
        while parent.get(cid, cid) != cid:
            cid = parent[cid]
        return cid

    for comm in live:
        for linked in threads.parent_ids(comm, base_url) + about_ids(comm, base_url):
            if linked in by_id:
                a, b = root(str(comm.get("id"))), root(linked)
                if a != b:
                    parent[a] = b
    members: dict[str, list[dict[str, Any]]] = {}
    for comm in live:
        members.setdefault(root(str(comm.get("id"))), []).append(comm)
    found = [t for t in (_thread(msgs, base_url) for msgs in members.values()) if t is not None]
    return sorted(found, key=lambda t: t.last_sent, reverse=True)


def _thread(msgs: list[dict[str, Any]], base_url: str) -> Thread | None:
    msgs = sorted(msgs, key=_sent_key)
    patient_side = [m for m in msgs if threads.is_patient_side(m, base_url)]
    if not patient_side:
        return None
    first, latest_patient = msgs[0], patient_side[-1]
    patient_id = next((p for p in (patient_of(m, base_url) for m in msgs) if p), "")
    name = next((str(m["subject"]["display"]) for m in msgs if (m.get("subject") or {}).get("display")),
                f"Patient/{patient_id}")
    return Thread(id=str(first.get("id")), patient_id=patient_id, patient_name=name,
                  subject=(first.get("topic") or {}).get("text") or "(no subject)",
                  category=threads.category_label(first), messages=msgs, last_sent=_sent_key(msgs[-1]),
                  unread=any(not m.get("received") for m in patient_side),
                  answered=threads.is_from_practice(msgs[-1], base_url), done=is_done(latest_patient))


def matches(thread: Thread, state: str) -> bool:
    return {"open": not thread.done, "unread": thread.unread, "unanswered": not thread.answered and not thread.done,
            "answered": thread.answered, "done": thread.done}.get(state, True)


def card(comm: dict[str, Any], names: dict[str, str], patient_id: str, base_url: str = "") -> Message:
    """One message as the thread page shows it (the portal's Message)."""
    return threads.to_message(comm, patient_id, names, base_url)


def when(value: str) -> datetime | None:
    return threads.parse_instant(value)
