"""Stored signups reach a worker without a task per signup (mailinglist/signup_drain.py).

Through the suite's real worker, real Redis and the SMTP sink: a signup's confirmation arrives
within 2 s of the answer; a signup whose kick was lost (the kick key left behind with no drain,
or the drain task and the key lost with Redis's data) is applied by the sweep; drains running
side by side apply every signup exactly once; and a signup stored too late for the drain that
owned its kick kicks again itself.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from config.celery_app import app as celery_app
from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist import protection, signup_drain, signup_insert
from mailinglist.models import ConsentEvent, MailingList, SignupRequest
from mailinglist.signup_drain import signup_request_submit
from mailinglist.subscriptions import RequestMeta
from operations.redis_client import redis_client
from tests.factories import MailingListFactory
from tests.polling import wait_until

pytestmark = pytest.mark.integration
KICK_KEY = cache.make_key(signup_drain.KICK_NAME)


@pytest.fixture
def daily(celery_worker: Worker) -> MailingList:
    return MailingListFactory.create(slug="daily", name="The Morning Briefing")


def _signup(client: Client, email: str) -> float:
    """POST the form as a person would; returns time.monotonic() when the answer arrived."""
    response = client.post(
        "/subscribe/",
        {
            "email": email,
            "lists": ["daily"],
            "form_token": protection.form_token_make(now=time.time() - 10),
        },
        REMOTE_ADDR="198.51.100.40",
    )
    answered = time.monotonic()
    assert response.status_code == 302
    return answered


def _mail_to(sink: SmtpSink, email: str) -> list[Any]:
    return [received for received in sink.received if received.rcpt_tos == [email]]


def test_a_signup_is_confirmed_within_two_seconds(
    daily: MailingList, smtp_sink: SmtpSink, client: Client
) -> None:
    for n in range(3):  # the first, and signups after a drain has come and gone
        email = f"quick{n}@example.com"
        answered = _signup(client, email)

        (confirmation,) = wait_until(functools.partial(_mail_to, smtp_sink, email), timeout=10)
        assert confirmation.at - answered < 2.0
        assert confirmation.message["Subject"].startswith("Confirm your subscription")
    assert not SignupRequest.objects.filter(processed_at__isnull=True).exists()


def test_a_signup_whose_kick_is_left_behind_is_applied_by_the_sweep(
    daily: MailingList, smtp_sink: SmtpSink, client: Client
) -> None:
    # A kick whose drain task never got published (the web process died between the two).
    redis_client().set(KICK_KEY, 1, ex=signup_drain.KICK_SECONDS)

    _signup(client, "late@example.com")
    time.sleep(1.5)
    assert not smtp_sink.received  # nothing woke a worker
    assert SignupRequest.objects.get().processed_at is None

    assert signup_drain.signup_requests_sweep() == 1  # what beat's tick runs
    wait_until(lambda: _mail_to(smtp_sink, "late@example.com"))
    assert SignupRequest.objects.get().processed_at is not None
    assert redis_client().get(KICK_KEY) is None  # the next signup kicks again


def test_a_signup_whose_drain_task_redis_lost_is_applied_by_the_sweep(
    daily: MailingList, smtp_sink: SmtpSink, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[str] = []
    # The drain task is published into a Redis that then restarts without its data: the task
    # and the kick key are both gone.
    monkeypatch.setattr(signup_drain, "_drain_publish", lambda: published.append("drain"))
    _signup(client, "lost@example.com")
    assert published == ["drain"]
    redis_client().delete(KICK_KEY)
    time.sleep(1.5)
    assert not smtp_sink.received

    celery_app.send_task("mailinglist.tasks.sweep_signup_requests")  # beat's tick, via Celery

    wait_until(lambda: _mail_to(smtp_sink, "lost@example.com"))
    assert SignupRequest.objects.get().processed_at is not None


def _in_thread(target: Callable[[], Any], results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_drains_side_by_side_apply_every_signup_exactly_once(
    daily: MailingList, smtp_sink: SmtpSink
) -> None:
    count = 40
    SignupRequest.objects.bulk_create(
        SignupRequest(email=f"reader{n}@example.com", list_slugs=["daily"], source="form")
        for n in range(count)
    )
    results: list[Any] = []
    drains = [_in_thread(signup_drain.signup_requests_drain, results) for _ in range(3)]
    for drain in drains:
        drain.join(timeout=120)

    assert sum(results) == count  # each signup applied by exactly one of the drains
    assert not SignupRequest.objects.filter(processed_at__isnull=True).exists()
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.SIGNUP).count() == count
    received = smtp_sink.wait_for(count, timeout=60)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        f"reader{n}@example.com" for n in range(count)
    )


def test_a_signup_stored_too_slowly_for_the_drain_that_owned_its_kick_kicks_again(
    daily: MailingList, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A drain is asked for (the key is set): the signup below finds it and does not publish.
    redis_client().set(KICK_KEY, 1, ex=signup_drain.KICK_SECONDS)
    looked = threading.Event()
    insert = signup_insert.signup_request_insert

    def stalled_insert(**values: Any) -> None:
        looked.set()
        time.sleep(0.8)  # a database stall: the drain comes and goes meanwhile
        insert(**values)

    monkeypatch.setattr(signup_drain, "signup_request_insert", stalled_insert)

    def slow_signup() -> None:
        signup_request_submit(
            email="slow@example.com",
            name="",
            list_slugs=["daily"],
            source="form",
            meta=RequestMeta(ip="198.51.100.41"),
        )

    signup = _in_thread(slow_signup, [])
    assert looked.wait(timeout=10)
    assert signup_drain.signup_requests_drain() == 0  # the drain that owned the kick: too early
    signup.join(timeout=30)

    # The signup saw it had taken longer than the drain's settle, and kicked again itself.
    wait_until(lambda: _mail_to(smtp_sink, "slow@example.com"), timeout=10)
    assert SignupRequest.objects.get().processed_at is not None
