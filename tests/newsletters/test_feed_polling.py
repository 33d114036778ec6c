"""Which feeds are polled when: the beat tick, claims held by other workers, and poll now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from newsletters import feeds
from newsletters.feeds import Outcome
from newsletters.models import Story
from newsletters.tasks import poll_feeds
from tests.newsletters.feed_helpers import make_feed
from tests.newsletters.feed_server import FeedServer, closed_port

pytestmark = pytest.mark.django_db


def test_the_tick_polls_due_feeds_and_carries_on_past_failures(server: FeedServer) -> None:
    refused = make_feed(f"http://127.0.0.1:{closed_port()}/feed.xml")
    broken = make_feed(server.serve("/500.xml", status=500))
    good = make_feed(server.serve("/rss.xml", file="rss2.xml"))
    make_feed(server.serve("/inactive.xml", file="atom.xml"), is_active=False)
    make_feed(
        server.serve("/later.xml", file="atom.xml"),
        next_poll_at=timezone.now() + timedelta(minutes=5),
    )

    results = feeds.feeds_poll_due(timeout=2)

    assert {r.feed_id: r.outcome for r in results} == {
        refused.pk: Outcome.FAILED,
        broken.pk: Outcome.FAILED,
        good.pk: Outcome.INGESTED,
    }
    assert Story.objects.filter(feed=good).count() == 3
    assert not server.seen("/inactive.xml")
    assert not server.seen("/later.xml")


def test_the_beat_task_is_a_thin_adapter_that_never_raises(server: FeedServer) -> None:
    failing = make_feed(f"http://127.0.0.1:{closed_port()}/feed.xml")
    good = make_feed(server.serve("/rss.xml", file="rss2.xml"))

    poll_feeds()  # what beat runs, called in-process

    failing.refresh_from_db()
    assert failing.error_count == 1
    assert Story.objects.filter(feed=good).count() == 3


def test_a_polled_feed_is_not_due_again_until_its_interval_passes(server: FeedServer) -> None:
    make_feed(server.serve("/rss.xml", file="rss2.xml"))

    feeds.feeds_poll_due()
    assert feeds.feeds_poll_due() == []

    assert len(server.seen("/rss.xml")) == 1


def test_a_feed_claimed_by_another_worker_is_left_alone(server: FeedServer) -> None:
    # Another worker's claim is a lease: next_poll_at moved into the future.
    make_feed(
        server.serve("/rss.xml", file="rss2.xml"),
        next_poll_at=timezone.now() + timedelta(minutes=5),
    )

    assert feeds.feeds_poll_due() == []
    assert not server.seen("/rss.xml")


def test_the_tick_stops_claiming_once_over_its_time_budget(server: FeedServer) -> None:
    first = make_feed(server.serve("/slow.xml", delay=30.0))
    second = make_feed(server.serve("/slow-too.xml", delay=30.0))

    results = feeds.feeds_poll_due(timeout=0.3, budget=0.1)

    assert [r.feed_id for r in results] == [first.pk]
    second.refresh_from_db()
    assert second.next_poll_at is None  # still due: the next tick takes it


def test_poll_now_waits_for_a_poll_in_progress_and_takes_over_an_expired_one(
    server: FeedServer,
) -> None:
    url = server.serve("/rss.xml", file="rss2.xml")
    started = timezone.now()
    # What a claim looks like: the poll's start, and a lease that has not run out.
    running = make_feed(url, last_polled_at=started, next_poll_at=started + feeds.CLAIM_LEASE)
    started = timezone.now() - timedelta(minutes=30)  # a worker died holding this one
    abandoned = make_feed(
        server.serve("/atom.xml", file="atom.xml"),
        last_polled_at=started,
        next_poll_at=started + feeds.CLAIM_LEASE,
    )

    assert feeds.feed_poll(feed_id=running.pk).outcome == Outcome.BUSY
    assert feeds.feed_poll(feed_id=abandoned.pk).outcome == Outcome.INGESTED
    assert not server.seen("/rss.xml")


def test_poll_now_polls_a_feed_that_is_not_due_or_not_active(server: FeedServer) -> None:
    feed = make_feed(
        server.serve("/rss.xml", file="rss2.xml"),
        is_active=False,
        last_polled_at=timezone.now(),
        next_poll_at=timezone.now() + timedelta(minutes=14),
    )

    assert feeds.feed_poll(feed_id=feed.pk).outcome == Outcome.INGESTED
