"""Staff accounts: ``carespace staff add/list/remove``, the invite that sets a password and then
the required two-step set-up, sign-in with a one-time code, and removal ending sessions at once."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.practice.conftest import shot
from tests.support.mail import link_in
from tests.support.portal import csrf_of, form_post
from tests.support.practice import (
    STAFF_PASSWORD,
    add_staff,
    carespace,
    enrolled,
    sign_in,
    unique_staff_email,
)


def test_a_new_staff_member_sets_a_password_then_two_step_and_signs_in_with_a_code(
        server: Any, smtp: Any, page: Page, context: BrowserContext) -> None:
    member = add_staff(server, "Rosa Diaz", "front-desk")
    link = link_in(smtp.wait_for(member.email, "practice console account"), "/practice/register")
    page.goto(link)
    expect(page).to_have_url(f"{server.url}/practice/register")  # the token left the address bar
    page.get_by_label("New password").fill(STAFF_PASSWORD)
    page.get_by_label("Type the password again").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Set my password").click()

    # Two-step is not optional: the set-up page comes next, and the console stays shut until it is done.
    expect(page.get_by_role("heading", name="Set up your sign-in code")).to_be_visible()
    shot(page, "practice-two-step-setup")
    page.goto("/practice/inbox")
    expect(page).to_have_url(f"{server.url}/practice/login?next=/practice/inbox")
    page.goto("/practice/two-step/setup")
    member.secret = page.locator("[data-secret]").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill("000000" if member.next_code() != "000000" else "111111")
    page.get_by_role("button", name="Turn on and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    member.last_step = 0
    page.get_by_label("Code from the app").fill(member.next_code())
    page.get_by_role("button", name="Turn on and continue").click()
    expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue to the console").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()

    page.get_by_text("Rosa Diaz").first.click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    shot(page, "practice-sign-in")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    page.get_by_label("Sign-in code").fill(member.next_code())
    shot(page, "practice-sign-in-code")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    assert not any(c["name"] == "carespace_session" for c in context.cookies())  # not a patient session


def test_codes_are_single_use_wrong_ones_count_toward_the_lockout_and_recovery_codes_work(
        server: Any, smtp: Any, db: Any, practice_admin: Any) -> None:
    member, first = enrolled(server, smtp, "Ivy Chen", "clinician", by=practice_admin[1])
    first.close()
    used = member.next_code()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/practice/login", data={"email": member.email, "password": member.password,
                                              "csrf_token": csrf_of(client, "/practice/login")})
        ok = form_post(client, "/practice/two-step", {"code": used})
        assert ok.status_code == 303 and ok.headers["location"] == "/practice/inbox"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/practice/login", data={"email": member.email, "password": member.password,
                                              "csrf_token": csrf_of(client, "/practice/login")})
        replayed = form_post(client, "/practice/two-step", {"code": used})
        assert replayed.status_code == 400 and "has been used already" in replayed.text
        assert client.get("/practice/inbox").status_code == 303  # still not signed in
        recovered = form_post(client, "/practice/two-step", {"code": member.recovery[0].upper()})
        assert recovered.status_code == 303, recovered.text
        assert client.get("/practice/inbox").status_code == 200
    assert len(db["staff"].find_one({"email": member.email})["two_step"]["recovery"]) == 9

    # Wrong codes and wrong passwords share the portal's allowance: 5 failures, then a pause.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = csrf_of(client, "/practice/login")
        wrong = client.post("/practice/login", data={"email": member.email, "password": "Nope-Nope-1!",
                                                     "csrf_token": token})
        assert wrong.status_code == 400 and "do not match a staff account" in wrong.text
        client.post("/practice/login", data={"email": member.email, "password": member.password, "csrf_token": token})
        statuses = [form_post(client, "/practice/two-step", {"code": "123456"}).status_code for _ in range(4)]
        assert statuses == [400, 400, 400, 429], statuses
        locked = client.post("/practice/login", data={"email": member.email, "password": member.password,
                                                      "csrf_token": token})
        assert locked.status_code == 429 and "sign-in is paused for 15 minutes" in locked.text
    notice = smtp.wait_for(member.email, "practice console was paused")  # the staff member is told
    assert "/practice/forgot-password" in notice.get_body(preferencelist=("plain",)).get_content()
    db["login_attempts"].delete_one({"_id": f"staff:{member.email}"})


def test_staff_and_patient_sessions_are_separate(server: Any, smtp: Any, clinician: Any) -> None:
    _, staff_client = clinician
    assert staff_client.get("/practice/inbox").status_code == 200
    assert staff_client.get("/health").status_code == 303  # a staff session is not a portal session
    with httpx.Client(base_url=server.url, timeout=30) as patient:
        signed = patient.post("/login", data={"email": "jane.doe@example.org", "password": "Jane-Demo-2026!",
                                              "birth_date": "1968-04-12", "csrf_token": csrf_of(patient)})
        assert signed.status_code == 303
        assert patient.get("/health").status_code == 200
        opened = patient.get("/practice/inbox")
        assert opened.status_code == 303 and opened.headers["location"] == "/practice/login?next=/practice/inbox"


def test_removing_a_staff_member_ends_their_sessions_at_once_and_voids_their_invite(
        server: Any, smtp: Any, db: Any, practice_admin: Any) -> None:
    member, client = enrolled(server, smtp, "Otto Berg", "front-desk", by=practice_admin[1])
    with closing(client):
        assert client.get("/practice/inbox").status_code == 200
        removed = carespace(server, "staff", "remove", "--email", member.email)
        assert removed.returncode == 0 and "their sessions have ended" in removed.stdout
        after = client.get("/practice/inbox")
        assert after.status_code == 303 and after.headers["location"].startswith("/practice/login")
    assert db["staff"].count_documents({"email": member.email}) == 0
    gone = carespace(server, "staff", "remove", "--email", member.email)
    assert gone.returncode == 1 and "No staff account uses" in gone.stderr

    # Removed before accepting (here from the Staff page): the invite stops working.
    admin_client = practice_admin[1]
    pending = unique_staff_email("una")
    assert form_post(admin_client, "/practice/staff", {"email": pending, "name": "Una Ray",
                                                       "role": "clinician"}).status_code == 303
    link = link_in(smtp.wait_for(pending, "practice console account"), "/practice/register")
    pending_id = db["staff"].find_one({"email": pending})["_id"]
    assert form_post(admin_client, f"/practice/staff/{pending_id}/remove", {}).status_code == 303
    with httpx.Client(base_url=server.url, timeout=30) as browser_like:
        opened = browser_like.get(link, follow_redirects=True)
        assert opened.status_code == 410 and "A newer link has been sent" in opened.text


def test_a_reset_password_ends_every_session_and_still_asks_for_the_code(server: Any, smtp: Any,
                                                                          practice_admin: Any) -> None:
    member, client = enrolled(server, smtp, "Pia Lund", "clinician", by=practice_admin[1])
    with closing(client), httpx.Client(base_url=server.url, timeout=30) as anon:
        sent = form_post(anon, "/practice/forgot-password", {"email": member.email})
        assert sent.status_code == 200 and "If <strong>" in sent.text
        link = link_in(smtp.wait_for(member.email, "practice console password"), "/practice/reset-password")
        assert anon.get(link, follow_redirects=True).status_code == 200
        member.password = "Fresh-Start-2027?"
        done = form_post(anon, "/practice/reset-password", {"password": member.password,
                                                            "password_confirm": member.password})
        assert done.status_code == 303 and done.headers["location"] == "/practice/login?notice=reset"
        assert client.get("/practice/inbox").status_code == 303  # the old session ended
    again = sign_in(server, member)
    with closing(again):
        assert again.get("/practice/inbox").status_code == 200

    # A staff reset link is not a patient's: the portal's reset page does not take it.
    form_post(httpx.Client(base_url=server.url), "/practice/forgot-password", {"email": member.email})
    staff_link = link_in(smtp.wait_for(member.email, "practice console password", after=1),
                         "/practice/reset-password")
    token = staff_link.split("token=")[1]
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        refused = anon.get(f"/reset-password?token={token}", follow_redirects=True)
        assert refused.status_code == 410
