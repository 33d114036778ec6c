"""Transactional mail on a lane of its own, through real workers, real Redis and real SMTP.

- A confirmation goes out at once while the digest throttle's shared bucket for the same mail
  server is exhausted (a digest batch meanwhile waits its turn).
- A confirmation the server defers (451) is retried by the task and then delivered.

Each test runs a worker of its own (its own settings or mail server) on the queues it needs;
the suite's shared worker stops consuming them meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from config.celery_app import app as celery_app
from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker, database_url, shared_worker_name, suite_worker
from mailinglist import protection
from mailinglist.models import MailingList, Subscriber, Subscription
from newsletters import scheduling
from newsletters.delivery import dispatch, throttle
from newsletters.models import Digest
from operations.redis_client import redis_client
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest
from tests.polling import wait_until

pytestmark = pytest.mark.integration
SEND_RATE = 1.0
# The batch's wait for its token: long beside a confirmation's trip, short for a test.
DIGEST_WAIT_SECONDS = 12


@contextmanager
def _own_worker(*, email_url: str, queues: str, name: str, **env: str) -> Iterator[Worker]:
    shared = [shared_worker_name()]
    names = queues.split(",")
    for queue in names:
        celery_app.control.cancel_consumer(queue, destination=shared, reply=True, timeout=1)
    worker = suite_worker(
        env={
            **os.environ,
            "DEBUG": "on",
            "DATABASE_URL": database_url(connection.settings_dict),
            "EMAIL_URL": email_url,
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
            **env,
        },
        name=f"{name}-{os.getpid()}@localhost",
        queues=queues,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        for queue in names:
            celery_app.control.add_consumer(queue, destination=shared, reply=True, timeout=1)


def _signup(client: Client, email: str, slug: str) -> None:
    response = client.post(
        "/subscribe/",
        {
            "email": email,
            "lists": [slug],
            "form_token": protection.form_token_make(now=time.time() - 10),
        },
        REMOTE_ADDR="198.51.100.30",
    )
    assert response.status_code == 302


@pytest.fixture
def throttled_worker(transactional_db: None, smtp_sink: SmtpSink) -> Iterator[tuple[Worker, str]]:
    # Depends on transactional_db so that it stops before the database is flushed.
    backend_key = f"smtp:127.0.0.1:{smtp_sink.port}"
    with _own_worker(
        email_url=smtp_sink.url,
        queues="transactional,bulk",
        name="lane",
        SEND_RATE=str(SEND_RATE),
    ) as worker:
        yield worker, backend_key
    redis_client().delete(throttle.KEY_PREFIX + backend_key)


def test_a_confirmation_does_not_wait_for_an_exhausted_digest_throttle(
    throttled_worker: tuple[Worker, str], smtp_sink: SmtpSink, client: Client
) -> None:
    worker, backend_key = throttled_worker
    # A digest with one reader, for the same mail server, sent by the same worker.
    digest = make_digest(stories=1)
    reader = Subscriber.objects.create(email="reader@example.com", public_id="lane-reader")
    Subscription.objects.create(
        subscriber=reader, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
    )
    MailingListFactory.create(slug="daily", name="The Daily")
    # Drain the shared bucket: an oversized take leaves a debt every later take must wait out.
    assert throttle.throttle_take(
        backend_key=backend_key, rate=SEND_RATE, count=DIGEST_WAIT_SECONDS
    ) == pytest.approx(0.0)
    assert throttle.throttle_take(backend_key=backend_key, rate=SEND_RATE) > 5

    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    assert dispatch.digests_dispatch_due() == [digest.pk]
    started = time.monotonic()
    _signup(client, "ada@example.com", "daily")

    (confirmation,) = smtp_sink.wait_for(1, timeout=DIGEST_WAIT_SECONDS - 4)
    assert confirmation.rcpt_tos == ["ada@example.com"], worker.log_tail()
    assert confirmation.message["Subject"] == "Confirm your subscription to The Daily"
    assert time.monotonic() - started < DIGEST_WAIT_SECONDS - 4
    # The digest did wait for its token: the throttle was in force for the bulk lane.
    received = smtp_sink.wait_for(2, timeout=DIGEST_WAIT_SECONDS + 20)
    assert received[1].rcpt_tos == ["reader@example.com"]
    assert time.monotonic() - started > DIGEST_WAIT_SECONDS / 2
    wait_until(lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists())


@pytest.fixture
def deferring_worker(transactional_db: None) -> Iterator[SmtpSink]:
    sink = SmtpSink(temp_fail_first_fraction=1.0, pipelining=True)
    sink.start()
    try:
        with _own_worker(email_url=sink.url, queues="transactional", name="deferring"):
            yield sink
    finally:
        sink.stop()


def test_a_deferred_confirmation_is_retried_then_delivered(
    deferring_worker: SmtpSink, client: Client
) -> None:
    sink = deferring_worker
    daily: MailingList = MailingListFactory.create(slug="daily", name="The Daily")

    _signup(client, "grace@example.com", "daily")

    # The first try is answered 451; the task's retry comes within its first backoff (15 s).
    (confirmation,) = sink.wait_for(1, timeout=45)
    assert confirmation.rcpt_tos == ["grace@example.com"]
    assert confirmation.message["Subject"] == f"Confirm your subscription to {daily.name}"
    assert sink.temp_failed == 1
    assert len(sink.attempts["grace@example.com"]) == 2
