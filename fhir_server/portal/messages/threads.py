"""Messages as the portal shows them, from Communication resources: pure logic, no I/O.

Which messages are in the inbox (sent to the patient by the practice) or the sent folder
(written by the patient or a delegate for them), which are unread (no ``received``), how a
thread hangs together (``inResponseTo``) and the reply rules the portal and the FHIR API
share: the patient side may answer a practice message once; a reply (theirs or the
practice's) cannot be answered, a new message can be started instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

CATEGORY_SYSTEM = "https://carespace.example.org/message-category"
PATIENT_SIDE = ("Patient/", "RelatedPerson/")
# Who the practice writes as. A patient-side writer must name itself as the sender (the write
# hook refuses anything else), so only these senders are care-team mail in the inbox.
PRACTICE_SIDE = ("Practitioner/", "PractitionerRole/", "Organization/", "CareTeam/", "HealthcareService/",
                 "Device/")
SUBJECT_MAX = 120
BODY_MAX = 10_000

NOT_A_PRACTICE_MESSAGE = ("This message was sent from the patient's side, so it cannot be replied to. "
                          "To write to the care team again, start a new message.")
IS_A_REPLY = ("This message is itself a reply, and a reply cannot be answered. "
              "To write to the care team again, start a new message.")
ALREADY_REPLIED = ("This message has already been answered: each message from the practice can be replied to "
                   "once. To write to the care team again, start a new message.")


def relative(reference: str | None, base_url: str = "") -> str:
    """``Type/id`` from a relative reference or an absolute one on this server."""
    value = reference or ""
    if base_url and value.startswith(base_url.rstrip("/") + "/"):
        value = value[len(base_url.rstrip("/")) + 1:]
    return value


def sender_of(comm: dict[str, Any], base_url: str = "") -> str:
    return relative((comm.get("sender") or {}).get("reference"), base_url)


def recipients_of(comm: dict[str, Any], base_url: str = "") -> list[str]:
    return [relative(r.get("reference"), base_url) for r in comm.get("recipient") or [] if r.get("reference")]


def is_patient_side(comm: dict[str, Any], base_url: str = "") -> bool:
    return sender_of(comm, base_url).startswith(PATIENT_SIDE)


def is_from_practice(comm: dict[str, Any], base_url: str = "") -> bool:
    """Sent by the practice: a sender reference to the practice side, not merely a display name."""
    return sender_of(comm, base_url).startswith(PRACTICE_SIDE)


def parent_ids(comm: dict[str, Any], base_url: str = "") -> list[str]:
    """Ids of the Communications this one answers (references elsewhere are kept whole)."""
    refs = [relative(r.get("reference"), base_url) for r in comm.get("inResponseTo") or []]
    return [r.removeprefix("Communication/") for r in refs if r]


def reply_refusal(original: dict[str, Any], replies: list[dict[str, Any]], *, base_url: str = "",
                  ignore_id: str | None = None) -> str | None:
    """Why the patient side may not answer ``original`` (given its existing replies), or None."""
    if is_patient_side(original, base_url):
        return NOT_A_PRACTICE_MESSAGE
    if original.get("inResponseTo"):
        return IS_A_REPLY
    if any(is_patient_side(r, base_url) and r.get("id") != ignore_id for r in replies):
        return ALREADY_REPLIED
    return None


def category_label(comm: dict[str, Any]) -> str:
    for concept in comm.get("category") or []:
        for coding in concept.get("coding") or []:
            if coding.get("display"):
                return str(coding["display"])
        if concept.get("text"):
            return str(concept["text"])
    return ""


def category_concept(label: str) -> dict[str, Any]:
    return {"coding": [{"system": CATEGORY_SYSTEM, "code": label.lower(), "display": label}], "text": label}


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Message:
    """One Communication, as a row of a folder or a card of a thread."""

    id: str
    subject: str
    category: str
    sender: str
    sent: datetime | None
    text: str
    unread: bool
    patient_side: bool
    to_patient: bool
    from_practice: bool
    parent_id: str | None
    resource: dict[str, Any]
    sender_ref: str = ""  # "Patient/x", "RelatedPerson/y", "Practitioner/z"…

    def people(self, me: str | None, patient_name: str, viewer_is_patient: bool) -> tuple[str, str]:
        """(from, to) as the signed-in person reads them: "you" only ever means that person.

        ``me`` is the signed-in person's own reference; ``viewer_is_patient`` says whether the
        record in view is theirs (else they are a family member or caregiver of the patient)."""
        mine = bool(me) and self.sender_ref == me
        sender = "You" if mine else self.sender
        if self.patient_side and not mine and self.sender_ref.startswith("RelatedPerson/"):
            sender = f"{self.sender}, for {'you' if viewer_is_patient else patient_name}"
        if self.patient_side:
            recipient = "your care team" if viewer_is_patient else f"{patient_name}'s care team"
        elif self.to_patient:
            recipient = "you" if viewer_is_patient else patient_name
        else:
            recipient = next((str(r["display"]) for r in self.resource.get("recipient") or [] if r.get("display")),
                             "the care team")
        return sender, recipient


def to_message(comm: dict[str, Any], patient_id: str, names: dict[str, str], base_url: str = "") -> Message:
    """``names`` maps ``Type/id`` to a display name, for senders that carry none."""
    sender_ref = sender_of(comm, base_url)
    to_patient = f"Patient/{patient_id}" in recipients_of(comm, base_url)
    side = is_patient_side(comm, base_url)
    practice = is_from_practice(comm, base_url)
    sender = (comm.get("sender") or {}).get("display") or names.get(sender_ref) or "Your care team"
    if not side and not practice:
        sender = "Unknown sender"  # a display alone proves nothing: never shown as the care team
    text = "\n\n".join(str(p["contentString"]) for p in comm.get("payload") or [] if p.get("contentString"))
    parents = parent_ids(comm, base_url)
    return Message(id=str(comm.get("id")), subject=(comm.get("topic") or {}).get("text") or "(no subject)",
                   category=category_label(comm), sender=sender, sent=parse_instant(comm.get("sent")), text=text,
                   unread=to_patient and practice and not comm.get("received"), patient_side=side,
                   to_patient=to_patient, from_practice=practice, parent_id=parents[0] if parents else None,
                   resource=comm, sender_ref=sender_ref)


def _newest_first(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.sent is not None, m.sent or datetime.min), reverse=True)


def inbox(messages: list[Message]) -> list[Message]:
    """What the practice sent to the patient, newest first."""
    return _newest_first([m for m in messages if m.to_patient and m.from_practice])


def sent_folder(messages: list[Message]) -> list[Message]:
    return _newest_first([m for m in messages if m.patient_side])


def unread_count(messages: list[Message]) -> int:
    return sum(1 for m in messages if m.unread)


def thread(messages: list[Message], message_id: str) -> list[Message]:
    """The conversation ``message_id`` belongs to: its first message and every answer, oldest first."""
    by_id = {m.id: m for m in messages}
    root = by_id.get(message_id)
    if root is None:
        return []
    seen = {root.id}
    while root.parent_id in by_id and root.parent_id not in seen:
        root = by_id[root.parent_id]
        seen.add(root.id)
    members, frontier = {root.id}, [root.id]
    while frontier:
        frontier = [m.id for m in messages if m.parent_id in frontier and m.id not in members]
        members.update(frontier)
    return sorted((by_id[i] for i in members), key=lambda m: (m.sent is not None, m.sent or datetime.min))


def can_reply(message: Message, messages: list[Message]) -> bool:
    replies = [m.resource for m in messages if m.parent_id == message.id]
    return message.to_patient and reply_refusal(message.resource, replies) is None


def compose_errors(category: str, subject: str, body: str, categories: list[str]) -> dict[str, str]:
    """Problems with a new message, by field (empty when it can be sent)."""
    errors: dict[str, str] = {}
    if category not in categories:
        errors["category"] = f"Choose a category: {' or '.join(categories)}."
    if not subject.strip():
        errors["subject"] = "Enter a subject."
    elif len(subject.strip()) > SUBJECT_MAX:
        errors["subject"] = f"The subject can be at most {SUBJECT_MAX} characters ({len(subject.strip())} now)."
    errors.update(body_errors(body))
    return errors


def body_errors(body: str) -> dict[str, str]:
    if not body.strip():
        return {"body": "Write your message."}
    if len(body) > BODY_MAX:
        return {"body": f"The message can be at most {BODY_MAX:,} characters ({len(body):,} now)."}
    return {}
