"""Reading the mail the test SMTP server caught."""

from __future__ import annotations

import re
from email.message import EmailMessage


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    """The first ``…{path}?token=…`` link of the message's text."""
    match = re.search(rf"https?://\S+{re.escape(path)}\?token=[\w-]+", text_of(message))
    assert match, text_of(message)
    return match.group(0)
