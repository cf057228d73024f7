"""What a stopping server still owes: the work it queued in the background.

Runs in the lifespan's shutdown, after uvicorn has stopped accepting and the requests in
flight have finished (or hit the grace period), and before the database client closes.
A shared writer that batches in memory (the audit group commit) flushes here too.
"""

from __future__ import annotations

import logging

from fhir_server import mail
from fhir_server.config import Settings

log = logging.getLogger("carespace")


async def flush_queued(settings: Settings) -> None:
    """Let mail being delivered (with its retries) finish, at most the shutdown grace period."""
    if not await mail.drain(wait_at_most=settings.shutdown_timeout):
        log.warning("some mail was not delivered before shutdown; it can be sent again from the practice")
