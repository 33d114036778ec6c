"""Feed ingest from a real local HTTP server: RSS 2.0 and Atom files of our own making become
clean stories, updated in place on the next poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from newsletters import feeds
from newsletters.feeds import Outcome
from newsletters.models import Story
from tests.factories import StoryFactory
from tests.newsletters.feed_helpers import close_to, make_feed
from tests.newsletters.feed_server import FEEDS_DIR, FeedServer

pytestmark = pytest.mark.django_db


# --- RSS 2.0 and Atom --------------------------------------------------------------------------


def test_an_rss_feed_becomes_stories_with_clean_fields(server: FeedServer) -> None:
    feed = make_feed(server.serve("/rss.xml", file="rss2.xml"), title="")

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
    assert close_to(feed.next_poll_at, timezone.now() + timedelta(minutes=15))


def test_an_atom_feed_becomes_stories(server: FeedServer) -> None:
    feed = make_feed(
        server.serve("/atom.xml", file="atom.xml", content_type="application/atom+xml")
    )

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
    feed = make_feed(server.serve("/rss.xml", file="rss2.xml"))
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
    feed = make_feed(server.serve("/cafe.xml", file="wrong-encoding.xml"))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created) == (Outcome.INGESTED, 1)
    assert Story.objects.get().headline == "Café opens on the square"
    feed.refresh_from_db()
    assert feed.last_error == ""


def test_an_empty_feed_is_a_quiet_day_not_an_error(server: FeedServer) -> None:
    feed = make_feed(server.serve("/empty.xml", file="empty.xml"))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created, result.error) == (Outcome.INGESTED, 0, "")


def test_new_stories_of_an_auto_feature_feed_are_featured_and_editors_decide_after(
    server: FeedServer,
) -> None:
    feed = make_feed(server.serve("/rss.xml", file="rss2.xml"), is_auto_feature=True)
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
    feed = make_feed(server.serve("/rss.xml", file="rss2.xml"))

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
    feed = make_feed(server.serve("/old-feed", status=301, headers={"Location": "/news/feed.xml"}))

    result = feeds.feed_poll(feed_id=feed.pk)

    assert (result.outcome, result.created) == (Outcome.INGESTED, 3)
    assert Story.objects.filter(url=server.url("/news/fish-and-chips")).exists()


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
