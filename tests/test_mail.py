"""Mail delivery: retried in the background; a command learns whether it went out."""

from __future__ import annotations

from fhir_server import mail
from fhir_server.config import Settings
from fhir_server.embedded_db import free_port
from tests.mailbox import Mailbox
from tests.threaded import run_coroutine


def deliver_once(smtp_url: str) -> bool:
    async def go() -> bool:
        settings = Settings(smtp_url=smtp_url)
        # No database: with SMTP configured the outbox is never used.
        mailer = mail.Mailer(settings, db=None, retry_delays=(0.01, 0.01))  # type: ignore[arg-type]
        await mailer.send("pat@example.org", "invite", name="Pat", link="https://x.example/register?token=t",
                          expires="soon")
        return await mail.drain(wait_at_most=30)

    return run_coroutine(go())


def test_drain_reports_delivery_and_failure(smtp: Mailbox) -> None:
    assert deliver_once(smtp.url) is True
    assert smtp.wait_for("pat@example.org", "Complete your registration")
    assert deliver_once(f"smtp://127.0.0.1:{free_port()}") is False
