"""Fetching a feed over HTTP: conditional GET, and servers that answer 500, nothing at all, too
slowly or too much, recorded on the feed with a backoff and never raised."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from newsletters import feeds
from newsletters.feeds import Outcome
from newsletters.models import Story
from tests.newsletters.feed_helpers import close_to, make_feed
from tests.newsletters.feed_server import FeedServer, closed_port

pytestmark = pytest.mark.django_db


# --- Conditional GET ---------------------------------------------------------------------------


def test_an_unchanged_feed_answers_304_and_nothing_is_parsed_or_written(
    server: FeedServer,
) -> None:
    stamp = "Mon, 03 Mar 2025 09:00:00 GMT"
    url = server.serve("/rss.xml", file="rss2.xml", etag='"v1"', last_modified=stamp)
    feed = make_feed(url)
    feeds.feed_poll(feed_id=feed.pk)
    feed.refresh_from_db()
    assert (feed.etag, feed.last_modified) == ('"v1"', stamp)
    before = {s.pk: s.updated_at for s in Story.objects.all()}

    result = feeds.feed_poll(feed_id=feed.pk)

    assert result.outcome == Outcome.NOT_MODIFIED
    first, second = server.seen("/rss.xml")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == stamp
    assert {s.pk: s.updated_at for s in Story.objects.all()} == before
    feed.refresh_from_db()
    assert (feed.etag, feed.error_count) == ('"v1"', 0)
    assert close_to(feed.last_polled_at, timezone.now())


def test_a_changed_feed_sends_new_validators_that_replace_the_old(server: FeedServer) -> None:
    feed = make_feed(server.serve("/rss.xml", file="rss2.xml", etag='"v1"'))
    feeds.feed_poll(feed_id=feed.pk)
    server.serve("/rss.xml", file="rss2-updated.xml", etag='"v2"')

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created) == (Outcome.INGESTED, 1)
    feed.refresh_from_db()
    assert feed.etag == '"v2"'


# --- Failures are recorded, never raised -------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"file": "broken.xml"}, "Not a readable RSS or Atom feed"),
        ({"file": "not-a-feed.html", "content_type": "text/html"}, "Not a readable RSS or Atom"),
        ({"body": bytes(range(256)) * 8}, "Not a readable RSS or Atom feed"),
        ({"body": b"oops", "status": 500}, "HTTP 500 Internal Server Error"),
        ({"body": b"", "status": 404}, "HTTP 404 Not Found"),
        ({"status": 302, "headers": {"Location": "ftp://files.example/feed"}}, "non-http(s)"),
    ],
    ids=["broken-xml", "html-page", "garbage", "http-500", "http-404", "redirect-to-ftp"],
)
def test_a_failing_feed_is_marked_with_a_one_line_error_and_backs_off(
    server: FeedServer, route: dict[str, Any], expected: str
) -> None:
    feed = make_feed(server.serve("/feed.xml", **route), poll_interval_minutes=10)

    result = feeds.feed_poll(feed_id=feed.pk)

    assert result.outcome == Outcome.FAILED
    assert expected in result.error
    feed.refresh_from_db()
    assert expected in feed.last_error
    assert "\n" not in feed.last_error
    assert feed.error_count == 1
    assert close_to(feed.last_error_at, timezone.now())
    assert close_to(feed.next_poll_at, timezone.now() + timedelta(minutes=20))
    assert not Story.objects.exists()


def test_a_closed_port_is_connection_refused(db: None) -> None:
    feed = make_feed(f"http://127.0.0.1:{closed_port()}/feed.xml")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert result.outcome == Outcome.FAILED
    assert "Connection refused" in result.error


@pytest.mark.parametrize("where", ["delay", "body_delay"], ids=["before-headers", "mid-body"])
def test_a_server_that_hangs_times_out_quickly(server: FeedServer, where: str) -> None:
    feed = make_feed(server.serve("/slow.xml", file="rss2.xml", **{where: 30.0}))
    started = time.monotonic()

    result = feeds.feed_poll(feed_id=feed.pk, timeout=0.5)

    assert time.monotonic() - started < 5
    assert result.outcome == Outcome.FAILED
    assert "Timed out after 0.5 s" in result.error


def test_a_feed_larger_than_the_limit_is_refused_unread(server: FeedServer) -> None:
    feed = make_feed(server.serve("/big.xml", file="rss2.xml"))

    result = feeds.feed_poll(feed_id=feed.pk, max_bytes=500)

    assert result.outcome == Outcome.FAILED
    assert "larger than 500 bytes" in result.error
    assert not Story.objects.exists()


def test_a_feed_that_is_not_http_is_refused_without_a_request(db: None) -> None:
    feed = make_feed("ftp://files.example/feed.xml")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert "must start with http:// or https://" in result.error


def test_backoff_doubles_with_each_failure_is_capped_and_resets_on_success(
    server: FeedServer,
) -> None:
    failing = make_feed(
        server.serve("/500.xml", status=500), error_count=3, poll_interval_minutes=10
    )
    hopeless = make_feed(server.serve("/gone.xml", status=500), error_count=40)
    now = timezone.now()

    feeds.feed_poll(feed_id=failing.pk)
    feeds.feed_poll(feed_id=hopeless.pk)

    failing.refresh_from_db()
    hopeless.refresh_from_db()
    assert failing.error_count == 4
    assert close_to(failing.next_poll_at, now + timedelta(minutes=10 * 2**4))
    assert close_to(hopeless.next_poll_at, now + timedelta(hours=24))
    server.serve("/500.xml", file="rss2.xml")
    feeds.feed_poll(feed_id=failing.pk)
    failing.refresh_from_db()
    assert (failing.error_count, failing.last_error, failing.last_error_at) == (0, "", None)
    assert close_to(failing.next_poll_at, timezone.now() + timedelta(minutes=10))
