"""A document shown inside the portal page: what the page shows of its content.

Text is shown as text; HTML is sanitised (``nh3``: no script, style, event handler, form or
remote image survives) and shown in the page; PDFs and images are embedded from the file
route with the download button as the fallback; anything else only downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import nh3

from fhir_server.portal.health.attachment import Content

Shown = Literal["text", "html", "pdf", "image", "download"]
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# No images (a remote one would tell its server the note was read), image maps or landmarks
# (the note sits inside the portal's own page structure).
_TAGS = nh3.ALLOWED_TAGS - {"img", "area", "map", "nav", "header", "footer", "aside"}
_LIMIT = 2_000_000  # a note larger than this is offered as a download only


@dataclass(frozen=True)
class Body:
    shown: Shown
    text: str = ""


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sanitise_html(html: str) -> str:
    """The note's HTML with only inert markup left (nh3's allow-list, links made safe)."""
    return nh3.clean(html, tags=_TAGS, link_rel="noopener noreferrer nofollow", url_schemes={"http", "https", "mailto"})


def body_of(content: Content) -> Body:
    kind = content.content_type
    if kind in ("text/plain", "text/csv") and len(content.body) <= _LIMIT:
        return Body("text", _decode(content.body))
    if kind in ("text/html", "application/xhtml+xml") and len(content.body) <= _LIMIT:
        return Body("html", sanitise_html(_decode(content.body)))
    if kind == "application/pdf":
        return Body("pdf")
    if kind in IMAGES:
        return Body("image")
    return Body("download")
