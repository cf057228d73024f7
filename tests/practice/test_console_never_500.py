"""Odd input to every console form and page, from a signed-in administrator (who may reach them
all): a clear answer, never a 500."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.portal import form_post
from tests.support.routes import app_routes

ODD = ["", " ", "\x00", "%", "<script>alert(1)</script>", "ü" * 300, "9" * 5000, "2026-02-30", "-1", "../../etc"]
FIELDS = ["email", "name", "role", "password", "password_confirm", "code", "next", "body", "title", "doc_type",
          "when", "note", "kind", "redirect_uris", "launch_url", "description"]
KEEP_SIGNED_IN = ("/practice/logout", "/practice/login", "/practice/two-step", "/practice/two-step/setup")


def _console_routes(method: str) -> list[str]:
    return sorted({re.sub(r"\{[^}]+\}", "fuzz-id", path) for methods, path in app_routes()
                   if method in methods and path.startswith("/practice") and path not in KEEP_SIGNED_IN})


def test_console_forms_and_pages_answer_odd_input_without_a_500(server: Any, practice_admin: Any) -> None:
    _, client = practice_admin
    posts = _console_routes("POST")
    assert "/practice/inbox/fuzz-id/reply" in posts and "/practice/patients/fuzz-id/documents" in posts
    for path in [*posts, "/practice/patients/jane-doe/invite", "/practice/patients/jane-doe/documents"]:
        for value in ODD:
            response = form_post(client, path, dict.fromkeys(FIELDS, value))
            assert response.status_code < 500, (path, value, response.text[:300])
    for path in _console_routes("GET"):
        for value in ODD[:6]:
            response = client.get(path, params={"name": value, "birth_date": value, "identifier": value,
                                                "category": value, "state": value, "notice": value})
            assert response.status_code < 500, (path, value)
    assert client.get("/practice/inbox").status_code == 200  # still signed in


def test_the_way_in_answers_odd_input_without_a_500(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        for path in (*KEEP_SIGNED_IN, "/practice/register", "/practice/reset-password", "/practice/forgot-password"):
            for value in ODD:
                fields = dict.fromkeys(FIELDS, value)
                fields["email"] = f"fuzz{value[:20]}@example.net" if value else ""  # never lock a real account
                assert form_post(anon, path, fields).status_code < 500, (path, value)
        for path in ("/practice/register?token=" + "x" * 500, "/practice/reset-password?token=%ff",
                     "/practice/login?next=//evil.example", "/practice/two-step?next=%00"):
            assert anon.get(path).status_code < 500, path
