"""A real SMTP server's catch: every message aiosmtpd received, for tests to read."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass
class Mailbox:
    """Everything the SMTP server received, in order."""

    messages: list[EmailMessage] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, subject_contains: str, *, after: int = 0, timeout: float = 15) -> EmailMessage:
        """The first message to ``address`` (beyond the first ``after`` ones) whose subject matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address)[after:] if subject_contains in m["Subject"]]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no mail '{subject_contains}' to {address} within {timeout} s")
