"""A signup POST talks to Redis once: the per-IP counter's round trip also takes the drain's kick.

No worker runs here: what is published is recorded instead (the drain itself, through a real
worker, is in tests/integration/test_signup_drain.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from mailinglist import protection, signup_drain
from mailinglist.models import MailingList, SignupRequest
from operations.redis_client import redis_client
from tests.factories import MailingListFactory

KICK_KEY = cache.make_key(signup_drain.KICK_NAME)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    drains: list[str] = []
    monkeypatch.setattr(signup_drain, "_drain_publish", lambda: drains.append("drain"))
    return drains


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


def _signup(client: Client, email: str, *, ip: str = "203.0.113.20", **extra: str) -> int:
    data = {
        "email": email,
        "lists": ["daily"],
        "form_token": protection.form_token_make(now=time.time() - 10),
        **extra,
    }
    return client.post("/subscribe/", data, REMOTE_ADDR=ip).status_code


def _hit(ip: str | None) -> bool:
    return protection.ip_limit_hit(
        ip=ip, claim_key=KICK_KEY, claim_seconds=signup_drain.KICK_SECONDS
    )


def test_the_counter_takes_the_kick_once_and_only_within_the_limit(settings: Any) -> None:
    assert _hit("203.0.113.1") is True
    assert _hit("203.0.113.2") is False  # already asked for
    assert 0 < redis_client().ttl(KICK_KEY) <= signup_drain.KICK_SECONDS
    assert _hit(None) is False  # no address: a plain SET NX, not counted

    redis_client().delete(KICK_KEY)
    settings.SIGNUP_IP_LIMIT = 1
    with pytest.raises(protection.RateLimited):
        _hit("203.0.113.1")
    assert redis_client().get(KICK_KEY) is None  # a refused signup asks for no drain
    assert _hit(None) is True


def test_signups_store_their_rows_and_publish_one_drain_between_them(
    daily: MailingList, published: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            assert _signup(Client(), f"reader{n}@example.com") == 302

    assert SignupRequest.objects.count() == 5
    assert published == ["drain"]  # one kick, not one task per signup
    request = SignupRequest.objects.get(email="reader0@example.com")
    assert (request.list_slugs, request.source, request.ip) == (["daily"], "form", "203.0.113.20")
    assert request.created_at is not None and request.processed_at is None

    redis_client().delete(KICK_KEY)  # what a drain does when it starts
    with django_capture_on_commit_callbacks(execute=True):
        assert _signup(Client(), "after@example.com") == 302
    assert published == ["drain", "drain"]


def test_junk_spends_the_budget_and_a_signup_over_the_limit_stores_nothing(
    daily: MailingList,
    published: list[str],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SIGNUP_IP_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=True):
        assert _signup(Client(), "not-an-address") == 400
        assert _signup(Client(), "bot@example.com", website="https://spam.example") == 302
        assert _signup(Client(), "fast@example.com", form_token="") == 200  # one more step
        assert _signup(Client(), "real@example.com") == 429

    assert not SignupRequest.objects.exists()
    assert published == []
    assert redis_client().get(KICK_KEY) is None
