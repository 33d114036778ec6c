"""What the cheap signup path must still do: the per-IP counter in one Redis round trip, and the
public lists kept in-process (fresh at once after a change in this process, within the TTL after
one that sends no signal)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from mailinglist import protection, public_lists
from mailinglist.models import MailingList
from operations.redis_client import redis_client
from tests.factories import MailingListFactory

# The pattern tests/conftest.py deletes between tests: the counter must match it, or counts leak.
SIGNUP_KEYS = "newsdesk:*signup:*"
WINDOW_START = 1_800_000_000 // protection.IP_WINDOW_SECONDS * protection.IP_WINDOW_SECONDS


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """protection's wall clock, set by the test (only that module's: signing keeps the real one)."""
    fake = FakeClock(WINDOW_START + 5)
    monkeypatch.setattr(protection, "time", SimpleNamespace(time=fake))
    return fake


@pytest.fixture(autouse=True)
def _no_cached_lists() -> Iterator[None]:
    public_lists.public_lists_forget()
    yield
    public_lists.public_lists_forget()


def _signup(client: Client, email: str, ip: str) -> Any:
    # A time token from a page loaded before the fake clock's window: a person's, not a step.
    token = protection.form_token_make(now=WINDOW_START - 10)
    data = {"email": email, "lists": ["daily"], "form_token": token}
    return client.post("/subscribe/", data, REMOTE_ADDR=ip)


# --- The per-IP counter ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_61st_signup_from_one_ip_in_a_window_is_refused_and_a_new_window_resets(
    client: Client, clock: FakeClock
) -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    ip = "203.0.113.61"
    for n in range(protection.IP_LIMIT):
        assert _signup(client, f"r{n}@example.com", ip).status_code == 302

    clock.now = WINDOW_START + protection.IP_WINDOW_SECONDS - 1  # the window's last second
    refused = _signup(client, "one-more@example.com", ip)

    assert refused.status_code == 429
    assert b"Too many signups from your network" in refused.content
    assert refused["Retry-After"] == "1"
    assert b"1 minute." in refused.content

    clock.now = WINDOW_START + protection.IP_WINDOW_SECONDS  # the next window
    assert _signup(client, "next-window@example.com", ip).status_code == 302


def test_the_counter_is_one_key_with_the_window_as_its_lifetime(clock: FakeClock) -> None:
    ip = "203.0.113.7"
    for _ in range(3):
        protection.ip_limit_hit(ip=ip)

    window = WINDOW_START // protection.IP_WINDOW_SECONDS
    key = cache.make_key(f"signup:ip:{ip}:{window}")
    client = redis_client()
    assert fnmatch.fnmatchcase(key, SIGNUP_KEYS)
    assert [k.decode() for k in client.scan_iter(match=f"*{ip}*")] == [key]
    assert int(client.get(key) or 0) == 3
    assert cache.get(f"signup:ip:{ip}:{window}") == 3  # still readable through the cache
    assert 0 < client.ttl(key) <= protection.IP_WINDOW_SECONDS


def test_a_counter_left_without_an_expiry_gets_one(clock: FakeClock) -> None:
    ip = "203.0.113.8"
    key = cache.make_key(f"signup:ip:{ip}:{WINDOW_START // protection.IP_WINDOW_SECONDS}")
    redis_client().set(key, 5)

    protection.ip_limit_hit(ip=ip)

    assert int(redis_client().get(key) or 0) == 6
    assert 0 < redis_client().ttl(key) <= protection.IP_WINDOW_SECONDS


def test_the_setting_overrides_the_limit_and_retry_after_counts_to_the_window_end(
    clock: FakeClock, settings: Any
) -> None:
    settings.SIGNUP_IP_LIMIT = 2
    clock.now = WINDOW_START + 120
    protection.ip_limit_hit(ip="203.0.113.9")
    protection.ip_limit_hit(ip="203.0.113.9")

    with pytest.raises(protection.RateLimited) as limited:
        protection.ip_limit_hit(ip="203.0.113.9")

    assert limited.value.retry_after_seconds == protection.IP_WINDOW_SECONDS - 120
    protection.ip_limit_hit(ip="203.0.113.10")  # other addresses have their own count
    protection.ip_limit_hit(ip=None)  # no address known: not counted, never refused


# --- The public lists, cached in-process --------------------------------------------------------


def _slugs() -> list[str]:
    return [mailing_list.slug for mailing_list in public_lists.public_lists()]


@pytest.mark.django_db(transaction=True)
def test_public_lists_are_read_once_per_ttl(django_assert_num_queries: Any) -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    with django_assert_num_queries(1):
        assert _slugs() == ["daily"]
    with django_assert_num_queries(0):
        assert _slugs() == ["daily"]
        assert _slugs() == ["daily"]


@pytest.mark.django_db(transaction=True)
def test_a_list_created_changed_or_deleted_here_shows_at_once(client: Client) -> None:
    daily = MailingListFactory.create(slug="daily", name="Daily")
    assert _slugs() == ["daily"]

    weekly = MailingListFactory.create(slug="weekly", name="Weekly", is_default_checked=True)
    assert _slugs() == ["daily", "weekly"]
    assert b'value="weekly"' in client.get("/subscribe/").content

    weekly.is_public = False
    weekly.save()
    assert _slugs() == ["daily"]
    assert b'value="weekly"' not in client.get("/subscribe/").content
    refused = client.post("/subscribe/", {"email": "a@example.com", "lists": ["weekly"]})
    assert b"weekly is not one of our newsletters" in refused.content

    daily.name = "The Morning Briefing"
    daily.save()
    assert [m.name for m in public_lists.public_lists()] == ["The Morning Briefing"]

    daily.delete()
    assert _slugs() == []


@pytest.mark.django_db(transaction=True)
def test_a_change_that_sends_no_signal_shows_within_the_ttl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(1000.0)
    monkeypatch.setattr(public_lists, "time", SimpleNamespace(monotonic=clock))
    MailingListFactory.create(slug="daily", name="Daily")
    assert _slugs() == ["daily"]

    MailingList.objects.filter(slug="daily").update(is_public=False)  # no post_save
    clock.now += public_lists.PUBLIC_LISTS_TTL_SECONDS - 1
    assert _slugs() == ["daily"]  # another process's view of a change, until the TTL runs out
    clock.now += 1
    assert _slugs() == []


@pytest.mark.django_db(transaction=True)
def test_the_lists_returned_are_the_callers_own() -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    first = public_lists.public_lists()
    first[0].name = "changed by one request"
    first.clear()

    again = public_lists.public_lists()
    assert [(m.slug, m.name) for m in again] == [("daily", "Daily")]
    assert again[0].pk is not None and not again[0]._state.adding


@pytest.mark.django_db(transaction=True)
def test_nothing_read_inside_a_transaction_is_kept() -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    with transaction.atomic():
        MailingListFactory.create(slug="doomed", name="Doomed")
        assert _slugs() == ["daily", "doomed"]  # the transaction sees its own change
        transaction.set_rollback(True)

    assert _slugs() == ["daily"]  # the rolled-back list is not served from the cache


@pytest.mark.django_db(transaction=True)
def test_a_flush_forgets_the_cached_lists() -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    assert _slugs() == ["daily"]

    call_command("flush", interactive=False, verbosity=0)  # as between transactional tests

    assert _slugs() == []
