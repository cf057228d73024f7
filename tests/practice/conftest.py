"""Console fixtures: one staff member of each role per session, signed in over HTTP through the
real invite, password and two-step flow; the portal's browser fixtures (context, page, shot)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.portal.conftest import context, page, shot  # noqa: F401  (the portal's browser fixtures)
from tests.support.practice import StaffMember, enrolled


@pytest.fixture(scope="session")
def practice_admin(server: Any, smtp: Any) -> Iterator[tuple[StaffMember, httpx.Client]]:
    """The first administrator, added with ``carespace staff add``."""
    member, client = enrolled(server, smtp, "Alex Morgan", "admin")
    with closing(client):
        yield member, client


@pytest.fixture(scope="session")
def clinician(server: Any, smtp: Any, practice_admin: Any) -> Iterator[tuple[StaffMember, httpx.Client]]:
    member, client = enrolled(server, smtp, "Nora Okafor", "clinician", by=practice_admin[1])
    with closing(client):
        yield member, client


@pytest.fixture(scope="session")
def front_desk(server: Any, smtp: Any, practice_admin: Any) -> Iterator[tuple[StaffMember, httpx.Client]]:
    member, client = enrolled(server, smtp, "Sam Rivera", "front-desk", by=practice_admin[1])
    with closing(client):
        yield member, client
