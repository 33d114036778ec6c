"""The staff second factor pressed in Chromium (STAFF_2FA=senders): a Publisher sets up an
authenticator app from the key on the page, is asked for its code at the next login and told
when a code is wrong; an Editor, who cannot send, is not asked."""

from __future__ import annotations

import time
from base64 import b32decode
from typing import Any

import pytest
from django_otp.oath import TOTP  # type: ignore[import-untyped]
from django_otp.plugins.otp_totp.models import TOTPDevice  # type: ignore[import-untyped]

from tests.browser.staff import log_in, script_errors
from tests.roles.helpers import EDITOR, PASSWORD, PUBLISHER, role_user

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _code(key: bytes, *, at: float) -> str:
    """What an authenticator app shows at `at` for the key it was given (RFC 6238, 30 s, 6)."""
    totp = TOTP(key)
    totp.time = at
    return f"{totp.token():06d}"


def _enter(page: Any, code: str, button: str) -> None:
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_a_publisher_sets_up_an_app_then_gives_its_code_at_each_login(
    page: Any, live_server: Any, settings: Any
) -> None:
    settings.STAFF_2FA = "senders"
    publisher = role_user(PUBLISHER)
    errors = script_errors(page)
    page.set_viewport_size(PHONE)

    log_in(page, live_server.url, username=publisher.username, password=PASSWORD)
    assert page.url.startswith(f"{live_server.url}/account/2fa/enrol/")
    assert page.locator("h1").inner_text() == "Set up your second step"
    assert page.locator(".qr svg").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # What a person types into their app instead of scanning.
    key = b32decode(page.locator("#totp-secret").inner_text().replace(" ", ""))
    _enter(page, _code(key, at=time.time()), "Confirm")

    assert page.url == f"{live_server.url}/admin/"
    assert TOTPDevice.objects.get(user=publisher).confirmed
    page.get_by_role("button", name="Log out").click()
    assert "Logged out" in page.locator("h1").inner_text()

    log_in(page, live_server.url, username=publisher.username, password=PASSWORD)
    assert page.url.startswith(f"{live_server.url}/account/2fa/verify/")
    assert page.locator("h1").inner_text() == "Enter your code"
    _enter(page, "000000" if _code(key, at=time.time()) != "000000" else "111111", "Verify")
    assert "That code doesn't match" in page.locator(".errorlist").inner_text()
    assert page.url.startswith(f"{live_server.url}/account/2fa/verify/")
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/account/2fa/verify/")  # still not in

    time.sleep(1.1)  # django-otp makes the next try after a wrong code wait a second
    # The code of the next 30 s: the one used to set up may not be used twice.
    _enter(page, _code(key, at=time.time() + 30), "Verify")
    assert page.url == f"{live_server.url}/admin/"
    assert publisher.username in page.locator("#user-tools").inner_text().lower()
    assert errors == []


def test_an_editor_who_cannot_send_is_not_asked(page: Any, live_server: Any, settings: Any) -> None:
    settings.STAFF_2FA = "senders"
    editor = role_user(EDITOR)

    log_in(page, live_server.url, username=editor.username, password=PASSWORD)

    assert page.url == f"{live_server.url}/admin/"
    assert not TOTPDevice.objects.filter(user=editor).exists()


def test_the_second_step_offers_a_way_out(page: Any, live_server: Any, settings: Any) -> None:
    settings.STAFF_2FA = "senders"
    publisher = role_user(PUBLISHER)
    TOTPDevice.objects.create(user=publisher, name="phone", confirmed=True)

    log_in(page, live_server.url, username=publisher.username, password=PASSWORD)
    page.get_by_role("button", name="Log out").click()

    assert "Logged out" in page.locator("h1").inner_text()
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/admin/login/")
