"""/metrics: queues, workers, beat and the throttle from Redis; signups from the database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from kombu import Queue

from config.celery_app import app as celery_app
from mailinglist.models import Subscription
from mailinglist.signup_drain import signup_request_submit
from mailinglist.subscriptions import RequestMeta, subscription_confirm
from newsletters.delivery import throttle
from newsletters.models import Delivery
from operations import heartbeat
from operations.redis_client import redis_client
from tests.factories import MailingListFactory, SubscriptionFactory
from tests.newsletters.metrics_helpers import scrape, value

Row = Delivery.State

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_metrics")]


# --- Workers, queues, beat, throttle ------------------------------------------------------------


@pytest.fixture
def test_queue() -> Iterator[str]:
    """A queue of its own beside the configured ones, which no worker of the suite consumes;
    beat's stamp is put back as it was."""
    name = "metrics-test-queue"
    client = redis_client()
    client.delete(name)
    beat = client.get(heartbeat.BEAT_KEY)
    queues = [*settings.CELERY_TASK_QUEUES, Queue(name)]
    with override_settings(CELERY_TASK_QUEUES=queues):
        yield name
    client.delete(name, f"_kombu.binding.{name}")
    heartbeat.worker_heartbeat_remove(hostname="metrics-test@host")
    if beat is None:
        client.delete(heartbeat.BEAT_KEY)
    else:
        client.set(heartbeat.BEAT_KEY, beat)


def test_queue_depth_workers_and_beat_come_from_redis(test_queue: str) -> None:
    before = scrape()
    assert value(before, "newsdesk_queue_depth", queue=test_queue) == 0
    assert {labels for name, labels in before if name == "newsdesk_queue_depth"} >= {
        (("queue", str(queue.name)),) for queue in settings.CELERY_TASK_QUEUES
    }

    celery_app.send_task("newsletters.tasks.poll_feeds", queue=test_queue)
    heartbeat.worker_heartbeat_record(hostname="metrics-test@host")
    heartbeat.beat_tick_record(now=time.time() - 30)
    after = scrape()

    assert value(after, "newsdesk_queue_depth", queue=test_queue) == 1
    assert value(after, "newsdesk_workers_alive") >= 1
    assert 30 <= value(after, "newsdesk_beat_last_tick_age_seconds") < 60
    assert value(after, "newsdesk_redis_up") == 1


def test_without_redis_the_database_figures_still_answer(settings: Any) -> None:
    settings.SEND_RATE = 100.0
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    samples = scrape()

    assert value(samples, "newsdesk_redis_up") == 0
    assert not any(name == "newsdesk_queue_depth" for name, _ in samples)
    assert ("newsdesk_throttle_effective_messages_per_second", ()) not in samples
    assert value(samples, "newsdesk_messages_sent_total") >= 0


@pytest.fixture
def bucket(settings: Any) -> Iterator[str]:
    settings.SEND_RATE = 100.0
    key = throttle.KEY_PREFIX + throttle.throttle_backend_key()
    redis_client().delete(key)
    yield key
    redis_client().delete(key)


def test_the_throttle_shows_the_configured_and_the_effective_rate(bucket: str) -> None:
    assert value(scrape(), "newsdesk_throttle_configured_messages_per_second") == 100
    assert value(scrape(), "newsdesk_throttle_effective_messages_per_second") == 100

    throttle.throttle_slow_down(backend_key=throttle.throttle_backend_key())  # a 421

    samples = scrape()
    assert value(samples, "newsdesk_throttle_configured_messages_per_second") == 100
    assert value(samples, "newsdesk_throttle_effective_messages_per_second") == 50


# --- The audience --------------------------------------------------------------------------------


def test_signups_and_confirmations_count_requests_and_double_opt_ins() -> None:
    mailing_list = MailingListFactory.create()

    def signup(n: int) -> None:
        signup_request_submit(
            email=f"new{n}@example.com",
            name="",
            list_slugs=[mailing_list.slug],
            source=Subscription.Source.FORM,
            meta=RequestMeta(),
        )

    # Signups are counted by the requests' ids, which a database sequence hands out: on
    # PostgreSQL it goes on from earlier tests, so the count before is taken with a request in.
    signup(0)
    before = scrape()
    for n in range(1, 4):
        signup(n)
    pending = SubscriptionFactory.create(
        mailing_list=mailing_list, state=Subscription.State.PENDING
    )
    subscription_confirm(
        subscriber=pending.subscriber, list_ids=[mailing_list.pk], meta=RequestMeta()
    )

    after = scrape()

    assert value(after, "newsdesk_signups_total") - value(before, "newsdesk_signups_total") == 3
    assert (
        value(after, "newsdesk_confirmations_total") - value(before, "newsdesk_confirmations_total")
        == 1
    )
