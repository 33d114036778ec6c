"""Feed ingest against a real local HTTP server: RSS 2.0 and Atom files of our own making, broken
ones, and servers that answer 304, 500, nothing at all, or too much."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters import feeds
from newsletters.feeds import Outcome
from newsletters.models import Feed, Story
from newsletters.tasks import poll_feeds
from tests.factories import FeedFactory, StoryFactory
from tests.newsletters.feed_server import FEEDS_DIR, FeedServer, closed_port, feed_server_running

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server_running() as running:
        yield running


def _feed(url: str, **fields: object) -> Feed:
    return FeedFactory.create(url=url, section="Local", **fields)


def _close_to(when: datetime | None, expected: datetime) -> bool:
    return when is not None and abs((when - expected).total_seconds()) < 5


# --- RSS 2.0 and Atom --------------------------------------------------------------------------


def test_an_rss_feed_becomes_stories_with_clean_fields(server: FeedServer) -> None:
    feed = _feed(server.serve("/rss.xml", file="rss2.xml"), title="")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created, result.updated, result.skipped) == (
        Outcome.INGESTED,
        3,
        0,
        2,  # the javascript: link and the item with no title
    )
    tram = Story.objects.get(url="https://shopper.example/news/tram-line")
    assert tram.headline == "Council approves the new tram line"
    assert tram.summary == "<p>Work starts in <strong>May</strong>.</p>"
    assert tram.image_url == "https://img.shopper.example/tram.jpg"
    assert tram.byline == "Ann Reporter"
    assert tram.published_at == datetime(2025, 3, 3, 5, 30, tzinfo=UTC)
    assert (tram.section, tram.source, tram.feed_id, tram.is_featured) == (
        "Local",
        Story.Source.FEED,
        feed.pk,
        False,
    )
    # A relative link is resolved against the feed's address; markup in a title is dropped.
    chips = Story.objects.get(url=server.url("/news/fish-and-chips"))
    assert chips.headline == "Fish & chips prices rise"
    assert chips.byline == "Bob Columnist"  # never the bare address beside it
    assert chips.image_url == "https://img.shopper.example/chips.png"
    assert 'href="https://shopper.example/"' in chips.summary
    for dangerous in ("onclick", "javascript:", "<img", "onerror"):
        assert dangerous not in chips.summary
    weather = Story.objects.get(url="https://shopper.example/weather/today")
    assert weather.image_url == ""  # its thumbnail was a javascript: URL
    assert not Story.objects.filter(url__startswith="javascript").exists()
    feed.refresh_from_db()
    assert feed.title == "The Springfield Shopper & Times"
    assert (feed.last_error, feed.error_count) == ("", 0)
    assert _close_to(feed.next_poll_at, timezone.now() + timedelta(minutes=15))


def test_an_atom_feed_becomes_stories(server: FeedServer) -> None:
    feed = _feed(server.serve("/atom.xml", file="atom.xml", content_type="application/atom+xml"))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created, result.skipped) == (Outcome.INGESTED, 3, 0)
    budget = Story.objects.get(url="https://courier.example/politics/budget")
    assert budget.headline == "Budget passes at last"
    assert budget.summary == "<p>The vote was <em>close</em>.</p>"  # the summary, not content
    assert budget.byline == "Carla Correspondent"
    assert budget.image_url == "https://img.courier.example/budget.jpg"
    assert budget.published_at == datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
    numbers = Story.objects.get(url="https://courier.example/science/numbers")
    assert numbers.headline == "Why 3 < 4 matters"  # plain text, as the feed meant it
    assert numbers.summary == "<p>Only <b>content</b>, no summary.</p>"
    assert numbers.image_url == "https://img.courier.example/numbers.webp"
    assert numbers.published_at == datetime(2025, 3, 2, 10, 30, tzinfo=UTC)
    plain = Story.objects.get(url="https://courier.example/misc/plain")
    assert plain.summary == "a &lt; b &amp; c"  # a text summary stays text


def test_a_second_poll_updates_stories_and_never_duplicates_them(server: FeedServer) -> None:
    feed = _feed(server.serve("/rss.xml", file="rss2.xml"))
    feeds.feed_poll(feed_id=feed.pk)
    weather = Story.objects.get(url="https://shopper.example/weather/today")
    weather.is_featured = True  # an editor's decision
    weather.save()
    server.serve("/rss.xml", file="rss2-updated.xml")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.created, result.updated) == (1, 3)
    assert Story.objects.count() == 4
    tram = Story.objects.get(url="https://shopper.example/news/tram-line")
    assert tram.headline == "Council approves the new tram line, with changes"
    assert "June" in tram.summary
    assert Story.objects.get(pk=weather.pk).is_featured


def test_a_feed_with_a_wrong_declared_encoding_is_still_ingested(server: FeedServer) -> None:
    feed = _feed(server.serve("/cafe.xml", file="wrong-encoding.xml"))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created) == (Outcome.INGESTED, 1)
    assert Story.objects.get().headline == "Café opens on the square"
    feed.refresh_from_db()
    assert feed.last_error == ""


def test_an_empty_feed_is_a_quiet_day_not_an_error(server: FeedServer) -> None:
    feed = _feed(server.serve("/empty.xml", file="empty.xml"))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created, result.error) == (Outcome.INGESTED, 0, "")


def test_new_stories_of_an_auto_feature_feed_are_featured_and_editors_decide_after(
    server: FeedServer,
) -> None:
    feed = _feed(server.serve("/rss.xml", file="rss2.xml"), is_auto_feature=True)
    feeds.feed_poll(feed_id=feed.pk)
    assert set(Story.objects.values_list("is_featured", flat=True)) == {True}
    Story.objects.filter(url="https://shopper.example/news/tram-line").update(is_featured=False)
    server.serve("/rss.xml", file="rss2-updated.xml")

    feeds.feed_poll(feed_id=feed.pk)

    assert not Story.objects.get(url="https://shopper.example/news/tram-line").is_featured
    assert Story.objects.get(url="https://shopper.example/news/bridge").is_featured


def test_a_story_entered_in_admin_keeps_its_source_when_the_feed_lists_it(
    server: FeedServer,
) -> None:
    story = StoryFactory.create(url="https://shopper.example/news/tram-line", headline="Old")
    feed = _feed(server.serve("/rss.xml", file="rss2.xml"))

    feeds.feed_poll(feed_id=feed.pk)

    story.refresh_from_db()
    assert (story.headline, story.source) == (
        "Council approves the new tram line",
        Story.Source.ADMIN,
    )
    assert Story.objects.filter(url=story.url).count() == 1


def test_a_redirect_is_followed_and_relative_links_resolve_against_where_it_led(
    server: FeedServer,
) -> None:
    server.serve("/news/feed.xml", file="rss2.xml")
    feed = _feed(server.serve("/old-feed", status=301, headers={"Location": "/news/feed.xml"}))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created) == (Outcome.INGESTED, 3)
    assert Story.objects.filter(url=server.url("/news/fish-and-chips")).exists()


# --- Conditional GET ---------------------------------------------------------------------------


def test_an_unchanged_feed_answers_304_and_nothing_is_parsed_or_written(
    server: FeedServer,
) -> None:
    stamp = "Mon, 03 Mar 2025 09:00:00 GMT"
    url = server.serve("/rss.xml", file="rss2.xml", etag='"v1"', last_modified=stamp)
    feed = _feed(url)
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
    assert _close_to(feed.last_polled_at, timezone.now())


def test_a_changed_feed_sends_new_validators_that_replace_the_old(server: FeedServer) -> None:
    feed = _feed(server.serve("/rss.xml", file="rss2.xml", etag='"v1"'))
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
    feed = _feed(server.serve("/feed.xml", **route), poll_interval_minutes=10)

    result = feeds.feed_poll(feed_id=feed.pk)

    assert result.outcome == Outcome.FAILED
    assert expected in result.error
    feed.refresh_from_db()
    assert expected in feed.last_error
    assert "\n" not in feed.last_error
    assert feed.error_count == 1
    assert _close_to(feed.last_error_at, timezone.now())
    assert _close_to(feed.next_poll_at, timezone.now() + timedelta(minutes=20))
    assert not Story.objects.exists()


def test_a_closed_port_is_connection_refused(db: None) -> None:
    feed = _feed(f"http://127.0.0.1:{closed_port()}/feed.xml")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert result.outcome == Outcome.FAILED
    assert "Connection refused" in result.error


@pytest.mark.parametrize("where", ["delay", "body_delay"], ids=["before-headers", "mid-body"])
def test_a_server_that_hangs_times_out_quickly(server: FeedServer, where: str) -> None:
    feed = _feed(server.serve("/slow.xml", file="rss2.xml", **{where: 30.0}))
    started = time.monotonic()

    result = feeds.feed_poll(feed_id=feed.pk, timeout=0.5)

    assert time.monotonic() - started < 5
    assert result.outcome == Outcome.FAILED
    assert "Timed out after 0.5 s" in result.error


def test_a_feed_larger_than_the_limit_is_refused_unread(server: FeedServer) -> None:
    feed = _feed(server.serve("/big.xml", file="rss2.xml"))

    result = feeds.feed_poll(feed_id=feed.pk, max_bytes=500)

    assert result.outcome == Outcome.FAILED
    assert "larger than 500 bytes" in result.error
    assert not Story.objects.exists()


def test_a_feed_that_is_not_http_is_refused_without_a_request(db: None) -> None:
    feed = _feed("ftp://files.example/feed.xml")

    result = feeds.feed_poll(feed_id=feed.pk)

    assert "must start with http:// or https://" in result.error


def test_backoff_doubles_with_each_failure_is_capped_and_resets_on_success(
    server: FeedServer,
) -> None:
    failing = _feed(server.serve("/500.xml", status=500), error_count=3, poll_interval_minutes=10)
    hopeless = _feed(server.serve("/gone.xml", status=500), error_count=40)
    now = timezone.now()

    feeds.feed_poll(feed_id=failing.pk)
    feeds.feed_poll(feed_id=hopeless.pk)

    failing.refresh_from_db()
    hopeless.refresh_from_db()
    assert failing.error_count == 4
    assert _close_to(failing.next_poll_at, now + timedelta(minutes=10 * 2**4))
    assert _close_to(hopeless.next_poll_at, now + timedelta(hours=24))
    server.serve("/500.xml", file="rss2.xml")
    feeds.feed_poll(feed_id=failing.pk)
    failing.refresh_from_db()
    assert (failing.error_count, failing.last_error, failing.last_error_at) == (0, "", None)
    assert _close_to(failing.next_poll_at, timezone.now() + timedelta(minutes=10))


# --- The beat tick -----------------------------------------------------------------------------


def test_the_tick_polls_due_feeds_and_carries_on_past_failures(server: FeedServer) -> None:
    refused = _feed(f"http://127.0.0.1:{closed_port()}/feed.xml")
    broken = _feed(server.serve("/500.xml", status=500))
    good = _feed(server.serve("/rss.xml", file="rss2.xml"))
    _feed(server.serve("/inactive.xml", file="atom.xml"), is_active=False)
    _feed(
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
    failing = _feed(f"http://127.0.0.1:{closed_port()}/feed.xml")
    good = _feed(server.serve("/rss.xml", file="rss2.xml"))

    poll_feeds()  # what beat runs, called in-process

    failing.refresh_from_db()
    assert failing.error_count == 1
    assert Story.objects.filter(feed=good).count() == 3


def test_a_polled_feed_is_not_due_again_until_its_interval_passes(server: FeedServer) -> None:
    _feed(server.serve("/rss.xml", file="rss2.xml"))

    feeds.feeds_poll_due()
    assert feeds.feeds_poll_due() == []

    assert len(server.seen("/rss.xml")) == 1


def test_a_feed_claimed_by_another_worker_is_left_alone(server: FeedServer) -> None:
    # Another worker's claim is a lease: next_poll_at moved into the future.
    _feed(
        server.serve("/rss.xml", file="rss2.xml"),
        next_poll_at=timezone.now() + timedelta(minutes=5),
    )

    assert feeds.feeds_poll_due() == []
    assert not server.seen("/rss.xml")


def test_the_tick_stops_claiming_once_over_its_time_budget(server: FeedServer) -> None:
    first = _feed(server.serve("/slow.xml", delay=30.0))
    second = _feed(server.serve("/slow-too.xml", delay=30.0))

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
    running = _feed(url, last_polled_at=started, next_poll_at=started + feeds.CLAIM_LEASE)
    started = timezone.now() - timedelta(minutes=30)  # a worker died holding this one
    abandoned = _feed(
        server.serve("/atom.xml", file="atom.xml"),
        last_polled_at=started,
        next_poll_at=started + feeds.CLAIM_LEASE,
    )

    assert feeds.feed_poll(feed_id=running.pk).outcome == Outcome.BUSY
    assert feeds.feed_poll(feed_id=abandoned.pk).outcome == Outcome.INGESTED
    assert not server.seen("/rss.xml")


def test_poll_now_polls_a_feed_that_is_not_due_or_not_active(server: FeedServer) -> None:
    feed = _feed(
        server.serve("/rss.xml", file="rss2.xml"),
        is_active=False,
        last_polled_at=timezone.now(),
        next_poll_at=timezone.now() + timedelta(minutes=14),
    )

    assert feeds.feed_poll(feed_id=feed.pk).outcome == Outcome.INGESTED


# --- Hostile input -----------------------------------------------------------------------------

HOSTILE = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://[::1",
    "http://exa mple.com/",
    "https://news.example/a\x00b",
    "//news.example/protocol-relative",
    "<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;x&amp;lt;/script&amp;gt;",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "]]><script>alert(1)</script>",
    "https://news.example/ok",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=120))
items = st.lists(
    st.fixed_dictionaries(
        {
            "title": hostile_text,
            "link": st.one_of(hostile_text, st.builds("https://news.example/{}".format, st.text())),
            "summary": hostile_text,
            "image": hostile_text,
            "cdata": st.booleans(),
        }
    ),
    max_size=4,
)


def _rss(entries: list[dict[str, object]]) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?>']
    parts.append('<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>')
    parts.append("<title>Hostile</title><link>https://news.example/</link><description/>")
    for entry in entries:
        summary = str(entry["summary"])
        body = f"<![CDATA[{summary.replace(']]>', '')}]]>" if entry["cdata"] else escape(summary)
        parts.append(
            f"<item><title>{escape(str(entry['title']))}</title>"
            f"<link>{escape(str(entry['link']))}</link><description>{body}</description>"
            f'<media:thumbnail url="{escape(str(entry["image"]), {chr(34): "&quot;"})}"/></item>'
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8", "replace")


def _assert_nothing_unsafe_stored() -> None:
    for story in Story.objects.all():
        assert story.url.lower().startswith(("http://", "https://"))
        assert not story.image_url or story.image_url.lower().startswith(("http://", "https://"))
        for text in (story.headline, story.summary, story.byline):
            assert "<script" not in text.lower()
        for href in re.findall(r'href="([^"]*)"', story.summary):
            assert href.startswith(("http://", "https://", "mailto:"))
        assert "\x00" not in story.url + story.headline + story.summary


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=items)
def test_hostile_items_never_raise_and_never_store_anything_unsafe(
    db: None, entries: list[dict[str, object]]
) -> None:
    Story.objects.all().delete()  # examples share the test's transaction: judge this one alone
    feed, _ = Feed.objects.get_or_create(url="https://news.example/hostile.xml")

    try:
        result = feeds.feed_document_ingest(feed=feed, document=_rss(entries))
    except feeds.FeedError:
        pass
    else:
        assert result.created + result.updated + result.skipped == len(entries)

    _assert_nothing_unsafe_stored()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=st.one_of(st.binary(max_size=2000), st.text().map(str.encode)))
def test_any_bytes_at_all_are_a_feed_or_a_feed_error(db: None, document: bytes) -> None:
    Story.objects.all().delete()
    feed, _ = Feed.objects.get_or_create(url="https://news.example/bytes.xml")

    with contextlib.suppress(feeds.FeedError):
        feeds.feed_document_ingest(feed=feed, document=document)

    _assert_nothing_unsafe_stored()


def test_the_fixture_files_are_our_own_and_present() -> None:
    # The suite must not depend on anything fetched from outside.
    assert {path.name for path in FEEDS_DIR.iterdir()} >= {
        "rss2.xml",
        "rss2-updated.xml",
        "atom.xml",
        "broken.xml",
        "not-a-feed.html",
        "wrong-encoding.xml",
        "empty.xml",
    }
