"""Outgoing mail: multipart text + HTML from the templates in ``templates/mail``, sent over SMTP.

``CARESPACE_SMTP_URL`` is ``smtp://[user:pass@]host[:port]`` (STARTTLS when the server offers
it) or ``smtps://user:pass@host[:port]`` (TLS from the start). Without it, messages go to the
``outbox`` collection, which ``/dev/outbox`` shows in demo mode.

Sending never blocks a page: ``send`` renders the message and hands it to a background task
that retries a failed delivery. The log names the template and a masked recipient, never the
message body (which carries single-use links).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from fhir_server.config import Settings
from fhir_server.db import Database
from fhir_server.ops.metrics import MAIL
from fhir_server.resources.store import utcnow

log = logging.getLogger("carespace.mail")

OUTBOX = "outbox"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
RETRY_DELAYS = (1.0, 5.0, 30.0)

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_pending: set[asyncio.Task[bool]] = set()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_email(template: str, **context: Any) -> Rendered:
    """``template.txt`` (which sets ``subject``) and ``template.html`` rendered with ``context``."""
    text_template = _env.get_template(f"{template}.txt")
    module = text_template.make_module(context)
    subject = str(getattr(module, "subject", "")).strip()
    html = _env.get_template(f"{template}.html").render(subject=subject, **context)
    return Rendered(subject=subject, text=str(module).strip() + "\n", html=html)


def mask(address: str) -> str:
    """``j***@example.org``: enough to follow a delivery in the log."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _message(settings: Settings, to: str, rendered: Rendered) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((settings.practice_name, settings.practice_email))
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=settings.practice_email.partition("@")[2] or None)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


async def deliver(smtp_url: str, message: EmailMessage) -> None:
    """One delivery attempt over SMTP."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise ValueError("CARESPACE_SMTP_URL must start with smtp:// or smtps://")
    tls = url.scheme == "smtps"
    await aiosmtplib.send(
        message,
        hostname=url.hostname or "localhost",
        port=url.port or (465 if tls else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=tls,
        start_tls=None if not tls else False,  # None: upgrade when the server offers STARTTLS
        timeout=30,
    )


class Mailer:
    """Mail for one server (or one command): its settings decide SMTP or the outbox."""

    def __init__(self, settings: Settings, db: Database, *, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.settings = settings
        self.db = db
        self.retry_delays = retry_delays

    @property
    def uses_outbox(self) -> bool:
        return not self.settings.smtp_url

    async def send(self, to: str, template: str, **context: Any) -> None:
        """Render now, deliver in the background (with retries). Returns at once."""
        context.setdefault("practice_name", self.settings.practice_name)
        context.setdefault("practice_email", self.settings.practice_email)
        context.setdefault("base_url", self.settings.base_url.rstrip("/"))
        rendered = render_email(template, **context)
        if self.uses_outbox:
            await self.db[OUTBOX].insert_one({
                "to": to, "template": template, "subject": rendered.subject, "text": rendered.text,
                "html": rendered.html, "created": utcnow(),
            })
            log.info("mail %r to %s put in the outbox (no SMTP configured)", template, mask(to))
            return
        message = _message(self.settings, to, rendered)
        task = asyncio.create_task(self._deliver_with_retries(self.settings.smtp_url or "", to, template, message))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    async def _deliver_with_retries(self, smtp_url: str, to: str, template: str, message: EmailMessage) -> bool:
        attempts = len(self.retry_delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                await deliver(smtp_url, message)
            except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
                log.warning("mail %r to %s: attempt %d of %d failed (%s)", template, mask(to), attempt, attempts,
                            exc.__class__.__name__)
                if attempt < attempts:
                    await asyncio.sleep(self.retry_delays[attempt - 1])
            else:
                log.info("mail %r to %s sent", template, mask(to))
                MAIL.labels("sent").inc()
                return True
        log.error("mail %r to %s was not delivered; it can be sent again from the practice", template, mask(to))
        MAIL.labels("failed").inc()
        return False


async def drain(wait_at_most: float | None = None) -> bool:
    """Wait for the mail still being delivered (a command does this before it exits); True
    when every message was delivered in time."""
    loop = asyncio.get_running_loop()
    # Only this event loop's deliveries: a process may run more than one loop (a server in a
    # thread beside a command), and another loop's tasks cannot be awaited here.
    mine = {task for task in _pending if task.get_loop() is loop}
    if not mine:
        return True
    done, not_done = await asyncio.wait(mine, timeout=wait_at_most)
    return not not_done and all(task.result() for task in done)
