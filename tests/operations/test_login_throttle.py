"""Staff login throttling (django-axes): 5 wrong passwords per username and address, 15 minutes.

Through Django's test client; tests/browser/test_staff_login.py presses the same in Chromium.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from axes.exceptions import AxesBackendRequestParameterRequired  # type: ignore[import-untyped]
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.utils import timezone

from operations.login_throttle import login_client_ip

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "pw-for-tests-1"  # staff_user's


def _attempt(client: Client, password: str, *, ip: str = "203.0.113.9") -> int:
    response = client.post(LOGIN, {"username": "staff", "password": password}, REMOTE_ADDR=ip)
    return response.status_code


def test_five_wrong_passwords_lock_the_username_out_from_that_address(
    client: Client, staff_user: User
) -> None:
    first_four = [_attempt(client, "wrong") for _ in range(4)]
    fifth = client.post(
        LOGIN, {"username": "staff", "password": "wrong"}, REMOTE_ADDR="203.0.113.9"
    )
    right_one = client.post(
        LOGIN, {"username": "staff", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )

    assert first_four == [200] * 4  # the login form again, with its error
    for locked in (fifth, right_one):
        assert locked.status_code == 429
        html = locked.content.decode()
        assert "<h1>Too many failed logins</h1>" in html
        assert "After 5 wrong passwords" in html
        assert "Try again in 15 minutes" in html
        assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_the_pair_only(client: Client, staff_user: User) -> None:
    for _ in range(5):
        _attempt(client, "wrong")

    # Another address (a colleague behind another network) and another username still log in.
    User.objects.create_user(username="other", password=PASSWORD, is_staff=True)
    other_user = Client().post(
        LOGIN, {"username": "other", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    same_user_elsewhere = Client().post(
        LOGIN, {"username": "staff", "password": PASSWORD}, REMOTE_ADDR="198.51.100.4"
    )

    assert other_user.status_code == same_user_elsewhere.status_code == 302


def test_after_the_cool_off_the_right_password_works_again(
    client: Client, staff_user: User
) -> None:
    for _ in range(5):
        _attempt(client, "wrong")
    assert _attempt(client, PASSWORD) == 429

    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.update(attempt_time=timezone.now() - cool_off - timedelta(seconds=1))

    assert _attempt(client, PASSWORD) == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def test_a_login_resets_the_count_of_typos(client: Client, staff_user: User) -> None:
    for _ in range(4):
        _attempt(client, "wrong")
    assert _attempt(client, PASSWORD) == 302
    client.logout()

    assert [_attempt(client, "wrong") for _ in range(4)] == [200] * 4
    assert _attempt(client, PASSWORD) == 302


def test_attempts_count_from_the_readers_address_through_trusted_proxies_only(
    settings: object,
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]  # type: ignore[attr-defined]
    factory = RequestFactory()

    proxied = factory.post(
        LOGIN, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9"
    )
    forged = factory.post(LOGIN, REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="192.0.2.77")

    # Behind our proxy: the reader's address; a stranger's own header changes nothing.
    assert login_client_ip(proxied) == "203.0.113.9"
    assert login_client_ip(forged) == "198.51.100.4"


def test_the_test_clients_login_needs_a_request_under_axes(staff_user: User) -> None:
    # Django 5.2's Client.login() calls authenticate() without a request, which axes refuses
    # (it cannot count an attempt from nowhere). Tests log in with force_login(), or hand it one.
    with pytest.raises(AxesBackendRequestParameterRequired):
        Client().login(username="staff", password=PASSWORD)

    assert Client().login(request=HttpRequest(), username="staff", password=PASSWORD)


def test_an_operator_lifts_a_lock_by_username(client: Client, staff_user: User) -> None:
    for _ in range(5):
        _attempt(client, "wrong")

    call_command("axes_reset_username", "staff", stdout=io.StringIO())

    assert _attempt(client, PASSWORD) == 302
