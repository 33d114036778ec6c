"""Stories and feeds in admin through Django's test client: lists, filters, forms, actions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from newsletters.models import Feed, Story
from tests.factories import FeedFactory, StoryFactory
from tests.newsletters.feed_server import FeedServer, closed_port, feed_server_running

STORIES = "/admin/newsletters/story/"
FEEDS = "/admin/newsletters/feed/"


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server_running() as running:
        yield running


def _headlines(response) -> set[str]:
    assert response.status_code == 200
    return {story.headline for story in response.context["cl"].result_list}


def _story_form(**fields: str) -> dict[str, str]:
    return {
        "headline": "Council approves the tram",
        "url": "https://news.example/tram",
        "summary": "<p>Work starts in May.</p>",
        "image_url": "",
        "image_alt": "",
        "section": "Local",
        "byline": "",
        "published_at_0": "",
        "published_at_1": "",
        "featured_until_0": "",
        "featured_until_1": "",
        **fields,
    }


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Story list --------------------------------------------------------------------------------


def test_the_story_list_shows_an_escaped_thumbnail(staff: Client) -> None:
    StoryFactory.create(
        headline="Harbour reopens",
        image_url="https://img.news.example/harbour.jpg?w=64&h=40",
        image_alt='"><script>alert(1)</script>',
    )
    StoryFactory.create(headline="No picture", image_url="")

    response = staff.get(STORIES)

    assert _headlines(response) == {"Harbour reopens", "No picture"}
    html = response.content.decode()
    assert (
        '<img src="https://img.news.example/harbour.jpg?w=64&amp;h=40" '
        'alt="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'
    ) in html
    assert "<script>alert(1)" not in html


def test_the_story_list_searches_headline_url_and_byline(staff: Client) -> None:
    StoryFactory.create(headline="Tram approved", url="https://news.example/a")
    StoryFactory.create(headline="Budget", url="https://news.example/tram-costs")
    StoryFactory.create(headline="Weather", byline="Tamsin Tram")
    StoryFactory.create(headline="Sport")

    assert _headlines(staff.get(STORIES, {"q": "tram"})) == {"Tram approved", "Budget", "Weather"}


def test_the_story_list_filters_by_featured_section_source_and_date(staff: Client) -> None:
    now = timezone.now()
    StoryFactory.create(headline="Featured sport", is_featured=True, section="Sport")
    StoryFactory.create(headline="From the feed", source=Story.Source.FEED, section="Local")
    StoryFactory.create(headline="Old news", published_at=now - timedelta(days=60))

    assert _headlines(staff.get(STORIES, {"is_featured__exact": "1"})) == {"Featured sport"}
    assert _headlines(staff.get(STORIES, {"section": "Sport"})) == {"Featured sport"}
    assert _headlines(staff.get(STORIES, {"source__exact": "feed"})) == {"From the feed"}
    # The values DateFieldListFilter's "Past 7 days" link carries: aware midnights.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = {
        "published_at__gte": str(today - timedelta(days=7)),
        "published_at__lt": str(today + timedelta(days=1)),
    }
    assert _headlines(staff.get(STORIES, week)) == {"Featured sport", "From the feed"}


def test_stories_are_featured_and_unfeatured_in_bulk(staff: Client) -> None:
    chosen = StoryFactory.create_batch(3, is_featured=False)
    other = StoryFactory.create(is_featured=False)
    ids = [str(story.pk) for story in chosen]

    response = staff.post(
        STORIES, {"action": "feature_selected", "_selected_action": ids}, follow=True
    )

    assert "Featured 3 story(ies)." in _messages(response)
    assert set(Story.objects.filter(is_featured=True)) == set(chosen)
    response = staff.post(
        STORIES, {"action": "unfeature_selected", "_selected_action": ids[:2]}, follow=True
    )
    assert "Unfeatured 2 story(ies)." in _messages(response)
    assert set(Story.objects.filter(is_featured=True)) == {chosen[2]}
    assert not Story.objects.get(pk=other.pk).is_featured


# --- Story form --------------------------------------------------------------------------------


def test_a_story_added_in_admin_is_cleaned_like_any_other(staff: Client) -> None:
    response = staff.post(
        f"{STORIES}add/",
        _story_form(
            headline="  Council   approves the tram ",
            summary='<p onclick="x()">Go <a href="javascript:alert(1)">here</a></p>'
            "<script>alert(1)</script>",
        ),
    )

    assert response.status_code == 302
    story = Story.objects.get()
    assert story.headline == "Council approves the tram"
    assert story.summary == '<p>Go <a rel="noopener">here</a></p>'
    assert story.source == Story.Source.ADMIN


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": "javascript:alert(1)"}, "url", "must start with http:// or https://."),
        ({"url": "ftp://files.example/a"}, "url", "must start with http:// or https://."),
        ({"url": "http://[::1"}, "url", "is not a valid web address."),
        ({"url": ""}, "url", "This field is required."),
        ({"headline": ""}, "headline", "This field is required."),
        ({"headline": "\x01\x02"}, "headline", "a headline is required."),
        ({"image_url": "javascript:alert(1)"}, "image_url", "must start with http"),
    ],
    ids=["javascript", "ftp", "broken-ipv6", "no-url", "no-headline", "control-only", "image"],
)
def test_bad_story_input_shows_form_errors_not_a_500(
    staff: Client, fields: dict[str, str], field: str, message: str
) -> None:
    response = staff.post(f"{STORIES}add/", _story_form(**fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert not Story.objects.exists()


def test_a_second_story_with_the_same_url_is_refused(staff: Client) -> None:
    StoryFactory.create(url="https://news.example/tram")

    response = staff.post(f"{STORIES}add/", _story_form(url=" https://news.example/tram "))

    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["url"])
    assert Story.objects.count() == 1


def test_a_story_is_edited_and_can_move_to_a_new_address(staff: Client) -> None:
    story = StoryFactory.create(url="https://news.example/old", source=Story.Source.FEED)
    assert staff.get(f"{STORIES}{story.pk}/change/").status_code == 200

    response = staff.post(
        f"{STORIES}{story.pk}/change/",
        _story_form(url="https://news.example/new", is_featured="on"),
    )

    assert response.status_code == 302
    story.refresh_from_db()
    assert (story.url, story.is_featured, story.source) == (
        "https://news.example/new",
        True,
        Story.Source.FEED,
    )
    assert Story.objects.count() == 1


# --- Feeds -------------------------------------------------------------------------------------


def test_the_feed_list_shows_polling_state_with_the_error_cut_short(staff: Client) -> None:
    FeedFactory.create(
        title="Shopper",
        last_error="HTTP 500 Internal Server Error " + "and much more " * 20,
        error_count=3,
        last_polled_at=timezone.now(),
        next_poll_at=timezone.now() + timedelta(hours=2),
    )

    response = staff.get(FEEDS)

    assert response.status_code == 200
    html = response.content.decode()
    assert "HTTP 500 Internal Server Error and much more" in html
    assert "and much more " * 20 not in html
    assert "…" in html


def test_poll_now_ingests_the_feed_and_says_what_it_found(
    staff: Client, server: FeedServer
) -> None:
    feed = FeedFactory.create(title="Shopper", url=server.serve("/rss.xml", file="rss2.xml"))

    response = staff.post(
        FEEDS, {"action": "poll_now", "_selected_action": [str(feed.pk)]}, follow=True
    )

    assert "Shopper: 3 new, 0 updated, 2 skipped (no http(s) link or no headline)." in (
        _messages(response)
    )
    assert Story.objects.filter(feed=feed).count() == 3


def test_poll_now_reports_a_failure_and_records_it(staff: Client) -> None:
    feed = FeedFactory.create(title="Gone", url=f"http://127.0.0.1:{closed_port()}/feed.xml")

    response = staff.post(
        FEEDS, {"action": "poll_now", "_selected_action": [str(feed.pk)]}, follow=True
    )

    [message] = _messages(response)
    assert message.startswith("Gone: failed: Connection refused")
    feed.refresh_from_db()
    assert feed.error_count == 1


def test_poll_now_polls_a_few_feeds_and_says_so_about_the_rest(
    staff: Client, server: FeedServer
) -> None:
    chosen = [
        FeedFactory.create(url=server.serve(f"/empty-{n}.xml", file="empty.xml")) for n in range(5)
    ]

    response = staff.post(
        FEEDS,
        {"action": "poll_now", "_selected_action": [str(feed.pk) for feed in chosen]},
        follow=True,
    )

    assert len(server.requests) == 3
    assert any(m.startswith("2 more feed(s) not polled") for m in _messages(response))


def test_a_feed_must_have_an_http_address_and_a_sane_interval(staff: Client) -> None:
    response = staff.post(
        f"{FEEDS}add/",
        {
            "url": "ftp://files.example/feed.xml",
            "title": "",
            "section": "",
            "poll_interval_minutes": "0",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "must start with http:// or https://." in errors["url"]
    assert "poll_interval_minutes" in errors
    assert not Feed.objects.exists()


def test_a_feed_moved_to_a_new_address_forgets_the_old_validators(staff: Client) -> None:
    feed = FeedFactory.create(
        etag='"v1"',
        last_modified="Mon, 03 Mar 2025 09:00:00 GMT",
        next_poll_at=timezone.now() + timedelta(minutes=10),
        error_count=2,
    )
    assert staff.get(f"{FEEDS}{feed.pk}/change/").status_code == 200

    response = staff.post(
        f"{FEEDS}{feed.pk}/change/",
        {
            "url": "https://news.example/new-feed.xml",
            "title": feed.title,
            "section": "Local",
            "poll_interval_minutes": "30",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    feed.refresh_from_db()
    assert (feed.url, feed.section, feed.poll_interval_minutes) == (
        "https://news.example/new-feed.xml",
        "Local",
        30,
    )
    assert (feed.etag, feed.last_modified, feed.next_poll_at) == ("", "", None)
    assert feed.error_count == 2  # the polling record is the poller's to change
