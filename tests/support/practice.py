"""The practice console as its staff use it: ``carespace staff add`` (the real command), the
invite mail, the password form, two-step set-up with a code computed here, and sign-in.

Each staff member may use a one-time code once per 30-second step; ``next_code`` hands out the
current step's code, then the next one (the server accepts one step either side), so a test can
sign a member in twice in quick succession without waiting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from playwright.sync_api import BrowserContext

from fhir_server import two_step
from tests.mailbox import Mailbox
from tests.support.mail import link_in
from tests.support.portal import csrf_of, form_post

STAFF_PASSWORD = "Night-Shift-2026!"
COOKIE = "carespace_practice"


def carespace(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``carespace`` command against the test server's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    env |= {"MONGODB_URI": server.mongo_uri, "CARESPACE_DB_NAME": server.settings.database_name,
            "CARESPACE_BASE_URL": server.url, "CARESPACE_DATA_DIR": str(server.settings.data_dir),
            "CARESPACE_SMTP_URL": server.settings.smtp_url or ""}
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@dataclass
class StaffMember:
    email: str
    name: str
    role: str
    password: str = STAFF_PASSWORD
    secret: str = ""
    recovery: list[str] = field(default_factory=list)
    last_step: int = 0

    def next_code(self) -> str:
        """A code the server has not seen yet: this step's, else the next step's (waits if both are used)."""
        while True:
            now_step = int(time.time() // 30)
            step = max(now_step, self.last_step + 1)
            if step <= now_step + 1:
                self.last_step = step
                return two_step.current_code(self.secret, at=step * 30)
            time.sleep(1)


def unique_staff_email(name: str) -> str:
    return f"{name.lower()}.{uuid.uuid4().hex[:8]}@practice.example.org"


def add_staff(server: Any, name: str, role: str) -> StaffMember:
    member = StaffMember(email=unique_staff_email(name.split()[0]), name=name, role=role)
    done = carespace(server, "staff", "add", "--email", member.email, "--name", name, "--role", role)
    assert done.returncode == 0, done.stderr
    return member


def register(server: Any, smtp: Mailbox, member: StaffMember) -> httpx.Client:
    """Follow the invite, set the password, set up two-step: a client signed in to the console."""
    link = link_in(smtp.wait_for(member.email, "practice console account"), "/practice/register")
    client = httpx.Client(base_url=server.url, timeout=30)
    opened = client.get(link, follow_redirects=True)
    assert opened.status_code == 200 and str(opened.url).endswith("/practice/register"), opened.text
    done = form_post(client, "/practice/register", {"password": member.password,
                                                    "password_confirm": member.password})
    assert done.status_code == 303 and done.headers["location"] == "/practice/two-step/setup", done.text
    setup = client.get("/practice/two-step/setup")
    match = re.search(r"<code class=\"secret\" data-secret>([A-Z2-7 ]+)</code>", setup.text)
    assert match, setup.text
    member.secret = match.group(1).replace(" ", "")
    confirmed = form_post(client, "/practice/two-step/setup", {"code": member.next_code()})
    assert confirmed.status_code == 200, confirmed.text
    member.recovery = re.findall(r"<li><code>([a-z0-9-]{12})</code></li>", confirmed.text)
    assert len(member.recovery) == 10, confirmed.text
    return client


def enrolled(server: Any, smtp: Mailbox, name: str, role: str,
             by: httpx.Client | None = None) -> tuple[StaffMember, httpx.Client]:
    """A staff member added with the command, or (faster: no process to start) by an
    administrator signed in as ``by`` on the Staff page; then registered."""
    if by is None:
        member = add_staff(server, name, role)
    else:
        member = StaffMember(email=unique_staff_email(name.split()[0]), name=name, role=role)
        added = form_post(by, "/practice/staff", {"email": member.email, "name": name, "role": role})
        assert added.status_code == 303, added.text
    return member, register(server, smtp, member)


def sign_in(server: Any, member: StaffMember) -> httpx.Client:
    """Email and password, then a one-time code, over HTTP."""
    client = httpx.Client(base_url=server.url, timeout=30)
    first = client.post("/practice/login", data={"email": member.email, "password": member.password,
                                                 "csrf_token": csrf_of(client, "/practice/login")})
    assert first.status_code == 303 and first.headers["location"].startswith("/practice/two-step"), first.text
    second = form_post(client, "/practice/two-step", {"code": member.next_code()})
    assert second.status_code == 303 and second.headers["location"] == "/practice/inbox", second.text
    return client


def into_browser(context: BrowserContext, server: Any, client: httpx.Client) -> None:
    """Give a browser context this client's console session (a staff member already signed in)."""
    context.add_cookies([{"name": COOKIE, "value": client.cookies[COOKIE], "url": server.url}])
