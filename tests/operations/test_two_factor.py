"""The staff second factor (STAFF_2FA): who is asked, what the gate lets through, bad codes.

Through Django's test client; tests/browser/test_two_factor.py presses the pages in Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import set_script_prefix
from django_otp.oath import TOTP  # type: ignore[import-untyped]
from django_otp.plugins.otp_totp.models import TOTPDevice  # type: ignore[import-untyped]

from audit.models import AuditEntry
from operations.two_factor import two_factor_required
from tests.roles.helpers import AUDIENCE_MANAGER, EDITOR, PUBLISHER, VIEWER, role_user

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _code(device: Any, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("policy", "asked"),
    [
        ("off", set()),
        ("senders", {PUBLISHER, "superuser"}),
        ("all", {PUBLISHER, EDITOR, AUDIENCE_MANAGER, VIEWER, "superuser"}),
    ],
)
def test_who_is_asked_for_a_second_factor(
    settings: Any, staff_user: User, policy: str, asked: set[str]
) -> None:
    settings.STAFF_2FA = policy
    users = {role: role_user(role) for role in (PUBLISHER, EDITOR, AUDIENCE_MANAGER, VIEWER)}
    users["superuser"] = staff_user
    reader = User.objects.create_user(username="not-staff", password="x")

    assert {name for name, user in users.items() if two_factor_required(user=user)} == asked
    assert not two_factor_required(user=reader)


def test_a_sender_without_an_app_is_sent_to_set_one_up_from_every_admin_page(
    settings: Any,
) -> None:
    settings.STAFF_2FA = "senders"
    client = _logged_in(role_user(PUBLISHER))

    page = client.get("/admin/newsletters/digest/?state=sent")
    posted = client.post("/admin/newsletters/digest/add/", {"subject": "x"})
    outbox = client.get("/admin/outbox/")

    assert page.status_code == 302
    enrol = "/account/2fa/enrol/?next="
    assert page["Location"] == enrol + "%2Fadmin%2Fnewsletters%2Fdigest%2F%3Fstate%3Dsent"
    # A POST is not replayed after the code: it comes back to the page it was sent from.
    assert posted["Location"] == enrol + "%2Fadmin%2Fnewsletters%2Fdigest%2Fadd%2F"
    assert outbox.status_code == 302
    # Leaving, switching account and the readers' pages stay open.
    assert client.get("/admin/login/").status_code in {200, 302}
    assert client.get("/").status_code == 200
    assert client.post("/admin/logout/").status_code == 200


def test_the_gate_knows_the_admin_under_any_script_prefix_after_readers_pages(
    settings: Any,
) -> None:
    # The admin's paths are worked out once per script prefix (every request asks, a reader's
    # too): a site mounted under /news must guard /news/admin/, not the /admin/ it saw first.
    settings.STAFF_2FA = "senders"
    client = _logged_in(role_user(PUBLISHER))
    assert client.get("/").status_code == 200
    assert client.get("/admin/outbox/").status_code == 302

    # What the WSGI handler does for a site mounted there (the test client leaves it alone).
    set_script_prefix("/news/")
    try:
        mounted = client.get("/admin/outbox/", SCRIPT_NAME="/news")
        login = client.get("/admin/login/", SCRIPT_NAME="/news")
    finally:
        set_script_prefix("/")

    assert mounted.status_code == 302
    assert mounted["Location"] == "/news/account/2fa/enrol/?next=%2Fnews%2Fadmin%2Foutbox%2F"
    assert login.status_code in {200, 302}
    assert not login.get("Location", "").startswith("/news/account/2fa/")
    assert client.get("/admin/outbox/").status_code == 302  # and still without the prefix


def test_enrolment_confirms_the_app_with_its_code_and_opens_admin(settings: Any) -> None:
    settings.STAFF_2FA = "senders"
    publisher = role_user(PUBLISHER)
    client = _logged_in(publisher)

    page = client.get("/account/2fa/enrol/?next=/admin/newsletters/")
    device = TOTPDevice.objects.get(user=publisher)
    wrong = client.post("/account/2fa/enrol/", {"code": "12345", "next": "/admin/newsletters/"})
    right = client.post(
        "/account/2fa/enrol/", {"code": _code(device), "next": "/admin/newsletters/"}
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'id="totp-secret"' in html
    assert wrong.status_code == 200
    assert "Enter the 6 digits your authenticator app shows." in wrong.content.decode()
    assert right.status_code == 302 and right["Location"] == "/admin/newsletters/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200
    assert AuditEntry.objects.filter(action="two_factor.enrol", actor=publisher).exists()


def test_with_an_app_the_next_login_asks_for_its_code(settings: Any) -> None:
    settings.STAFF_2FA = "senders"
    publisher = role_user(PUBLISHER)
    device = TOTPDevice.objects.create(user=publisher, name="phone", confirmed=True)
    client = _logged_in(publisher)

    to_verify = client.get("/admin/")
    enrol_again = client.get("/account/2fa/enrol/")
    wrong = client.post("/account/2fa/verify/", {"code": "000000", "next": "/admin/"})
    too_soon = client.post("/account/2fa/verify/", {"code": _code(device), "next": "/admin/"})
    time.sleep(1.1)  # django-otp makes the next try after a wrong code wait a second
    code = _code(device)
    right = client.post("/account/2fa/verify/", {"code": code, "next": "/admin/"})
    replayed = _logged_in(publisher).post("/account/2fa/verify/", {"code": code, "next": "/admin/"})

    assert to_verify["Location"] == "/account/2fa/verify/?next=%2Fadmin%2F"
    # A stolen password alone cannot add a second app to an account that has one.
    assert enrol_again["Location"].startswith("/account/2fa/verify/")
    assert TOTPDevice.objects.filter(user=publisher).count() == 1
    assert "That code doesn" in wrong.content.decode()
    assert "Too many wrong codes" in too_soon.content.decode()
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # A code works once: another session cannot reuse the one just typed.
    assert replayed.status_code == 200
    assert "That code doesn" in replayed.content.decode()


def test_an_editor_is_not_asked_under_senders(settings: Any) -> None:
    settings.STAFF_2FA = "senders"
    client = _logged_in(role_user(EDITOR))

    assert client.get("/admin/").status_code == 200
    # Nothing to set up for someone who is not asked.
    for path in ("/account/2fa/verify/", "/account/2fa/enrol/"):
        assert client.get(path)["Location"] == "/admin/"
    assert not TOTPDevice.objects.exists()


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_the_next_page_after_the_code_is_always_ours(settings: Any, unsafe: str) -> None:
    settings.STAFF_2FA = "senders"
    publisher = role_user(PUBLISHER)
    device = TOTPDevice.objects.create(user=publisher, name="phone", confirmed=True)

    response = _logged_in(publisher).post(
        "/account/2fa/verify/", {"code": _code(device), "next": unsafe}
    )

    assert response["Location"] == "/admin/"


def test_the_pages_are_for_signed_in_staff_only(client: Client) -> None:
    for path in ("/account/2fa/verify/", "/account/2fa/enrol/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.exists()


def test_an_unknown_policy_stops_start_up_with_a_message() -> None:
    env = {**os.environ, "DEBUG": "on", "STAFF_2FA": "sometimes"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "STAFF_2FA must be off, senders or all (got 'sometimes')" in result.stderr
