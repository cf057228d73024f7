"""``carespace invite``: sends over the configured SMTP; a registered patient gets nothing (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from tests.portal.conftest import Mailbox, link_in, new_patient


def carespace(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": server.mongo_uri, "CARESPACE_DB_NAME": server.settings.database_name,
           "CARESPACE_BASE_URL": server.url, "CARESPACE_SMTP_URL": server.settings.smtp_url,
           "CARESPACE_DATA_DIR": str(server.settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_invite_command_sends_and_refuses_a_registered_patient(server: Any, admin: httpx.Client,
                                                               smtp: Mailbox) -> None:
    person = new_patient(admin, given="Cli")
    result = carespace(server, "invite", "--patient", person.patient_id, "--email", person.email)
    assert result.returncode == 0, result.stderr
    assert "sent" in result.stdout
    link = link_in(smtp.wait_for(person.email, "Complete your registration"), "/register")
    assert link.startswith(f"{server.url}/register?token=")
    assert link.split("token=")[1] not in result.stdout + result.stderr

    registered = carespace(server, "invite", "--patient", "jane-doe", "--email", "jane.doe@example.org")
    assert registered.returncode == 1
    assert "already registered" in registered.stdout
