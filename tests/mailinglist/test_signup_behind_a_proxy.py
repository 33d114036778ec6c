"""Signups behind a proxy: the per-IP limit and consent records use the reader's address only
through TRUSTED_PROXIES; a forged X-Forwarded-For from anyone else changes nothing."""

from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings

from mailinglist import protection
from mailinglist.models import MailingList, SignupRequest

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"
SIGNUPS = 100  # past protection.IP_LIMIT


def _signups(*, peer: str) -> list[int]:
    """SIGNUPS form posts from one peer, each with its own reader address and email address."""
    assert protection.IP_LIMIT < SIGNUPS
    token = protection.form_token_make(now=time.time() - 10)  # a person's, not a script's
    statuses = []
    for n in range(SIGNUPS):
        response = Client(enforce_csrf_checks=True).post(
            "/subscribe/",
            {"email": f"reader{n}@example.com", "lists": ["daily"], "form_token": token},
            REMOTE_ADDR=peer,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
        statuses.append(response.status_code)
    return statuses


@override_settings(TRUSTED_PROXIES=[])
def test_a_forged_forwarded_for_does_not_escape_the_per_ip_limit(daily: MailingList) -> None:
    statuses = _signups(peer="192.0.2.60")

    assert statuses[: protection.IP_LIMIT] == [302] * protection.IP_LIMIT
    assert set(statuses[protection.IP_LIMIT :]) == {429}
    recorded = set(SignupRequest.objects.values_list("ip", flat=True))
    assert recorded == {"192.0.2.60"}


@override_settings(TRUSTED_PROXIES=["10.0.0.0/24"])
def test_behind_a_trusted_proxy_each_reader_has_a_limit_of_their_own(daily: MailingList) -> None:
    statuses = _signups(peer=PROXY)

    assert statuses == [302] * SIGNUPS
    recorded = set(SignupRequest.objects.values_list("ip", flat=True))
    assert recorded == {f"198.51.100.{n}" for n in range(SIGNUPS)}


@override_settings(TRUSTED_PROXIES=[PROXY])
def test_the_api_takes_the_readers_address_through_the_proxy_too(daily: MailingList) -> None:
    for n in range(protection.IP_LIMIT + 1):
        response = Client().post(
            "/api/v1/subscribe",
            {"email": f"api{n}@example.com", "lists": ["daily"]},
            content_type="application/json",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, 203.0.113.{n % 2}",
        )
    # Two readers behind the proxy: neither reached the limit, whatever the client wrote first.
    assert response.status_code == 202, response.content
    assert set(SignupRequest.objects.values_list("ip", flat=True)) == {
        "203.0.113.0",
        "203.0.113.1",
    }
