"""The one story upsert every source goes through: validation, nh3 cleaning, one row per URL."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters import stories
from newsletters.models import Feed, Story
from newsletters.stories import StoryInput
from tests.factories import FeedFactory, StoryFactory

pytestmark = pytest.mark.django_db

URL = "https://news.example/2025/03/tram"


def test_an_upsert_creates_then_updates_the_same_row() -> None:
    story, created = stories.story_upsert(
        data=StoryInput(url=URL, headline="Tram approved"), source=Story.Source.API
    )
    again, created_again = stories.story_upsert(
        data=StoryInput(url=f"  {URL} ", headline="Tram approved, with changes"),
        source=Story.Source.FEED,
    )

    assert (created, created_again) == (True, False)
    assert again.pk == story.pk
    assert Story.objects.get().headline == "Tram approved, with changes"
    assert Story.objects.get().source == Story.Source.API  # the first source stays


def test_an_editor_featuring_survives_updates_that_do_not_mention_it() -> None:
    StoryFactory.create(url=URL, is_featured=True)

    stories.story_upsert(data=StoryInput(url=URL, headline="New words"), source="feed")
    assert Story.objects.get().is_featured
    stories.story_upsert(data=StoryInput(url=URL, headline="New", featured=False), source="api")
    assert not Story.objects.get().is_featured


def test_auto_feature_features_new_stories_only() -> None:
    feed = FeedFactory.create(is_auto_feature=True)
    StoryFactory.create(url=URL, is_featured=False)

    old, _ = stories.story_upsert(
        data=StoryInput(url=URL, headline="Old"), source="feed", feed=feed, auto_feature=True
    )
    new, _ = stories.story_upsert(
        data=StoryInput(url=f"{URL}-2", headline="New"), source="feed", feed=feed, auto_feature=True
    )

    assert (old.is_featured, new.is_featured) == (False, True)
    assert new.feed == feed


def test_summary_html_is_reduced_to_the_allow_list() -> None:
    summary = (
        '<p onclick="x()">Read <a href="https://news.example/" style="color:red">this</a>, '
        '<a href="javascript:alert(1)">not this</a>, <a href="/relative">nor this</a> and '
        '<a href="//elsewhere.example/">nor this</a>.</p><script>alert(1)</script>'
        "<style>p{}</style><iframe src=https://x.example></iframe><b>ok</b>"
    )

    story, _ = stories.story_upsert(
        data=StoryInput(url=URL, headline="H", summary=summary), source="admin"
    )

    assert story.summary == (
        '<p>Read <a href="https://news.example/" rel="noopener">this</a>, '
        '<a rel="noopener">not this</a>, <a rel="noopener">nor this</a> and '
        '<a rel="noopener">nor this</a>.</p><b>ok</b>'
    )


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,hi",
        "ftp://files.example/a",
        "/relative/path",
        "//news.example/protocol-relative",
        "http://[::1",  # urlsplit raises ValueError here: it must still be a ValidationError
        "https://news.example/a\x00b",  # PostgreSQL refuses NUL
        "https://news.example/a\u200bb",
        "http://exa mple.com/",
        "https://" + "a" * 1000 + ".example/",
    ],
)
def test_a_story_url_must_be_absolute_http_or_https(url: str) -> None:
    with pytest.raises(ValidationError) as raised:
        stories.story_upsert(data=StoryInput(url=url, headline="H"), source="api")

    assert all(message.startswith("url: ") for message in raised.value.messages)
    assert not Story.objects.exists()


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ValidationError) as raised:
        stories.story_validate(
            data=StoryInput(url="javascript:x", headline=" \x00 ", image_url="ftp://img/a.jpg")
        )

    assert [m.split(":")[0] for m in raised.value.messages] == ["url", "headline", "image_url"]


def test_text_fields_are_one_line_of_printable_text_and_times_are_aware() -> None:
    fields = stories.story_validate(
        data=StoryInput(
            url=URL,
            headline="  Two\nlines\tand\x00 a NUL ",
            byline="Ann\r\nReporter",
            published_at=datetime(2025, 3, 3, 6, 30),
        )
    )

    assert fields["headline"] == "Two lines and a NUL"
    assert fields["byline"] == "Ann Reporter"
    published = fields["published_at"]
    assert isinstance(published, datetime)
    assert published.tzinfo is not None


def test_a_long_summary_is_cut_without_leaving_a_broken_tag() -> None:
    link = '<a href="https://news.example/a-long-address-that-will-be-cut">word</a> '
    summary = "<p>" + link * 200 + "</p>"

    cut = str(
        stories.story_validate(data=StoryInput(url=URL, headline="H", summary=summary))["summary"]
    )

    assert stories.MAX_SUMMARY_CHARS - 200 < len(cut) < stories.MAX_SUMMARY_CHARS + 50
    assert not re.search(r"<[^>]*$", cut)  # no tag left open at the end
    assert cut.endswith("</p>")
    assert stories.html_clean(cut) == cut


def test_a_lone_surrogate_from_json_does_not_crash_the_cleaner() -> None:
    story, _ = stories.story_upsert(
        data=StoryInput(url=URL, headline="H\ud800", summary="<p>a\ud800b</p>"), source="api"
    )

    assert story.summary == "<p>a?b</p>"
    assert story.headline == "H"


def test_featuring_in_bulk_counts_only_what_changed() -> None:
    featured = StoryFactory.create(is_featured=True)
    plain = StoryFactory.create_batch(2, is_featured=False)
    ids = [featured.pk, *(s.pk for s in plain)]

    assert stories.stories_feature(story_ids=ids, featured=True) == 2
    assert stories.stories_feature(story_ids=ids, featured=True) == 0
    assert stories.stories_feature(story_ids=[featured.pk], featured=False) == 1
    assert Story.objects.filter(is_featured=True).count() == 2


hostile = st.one_of(
    st.text(),
    st.sampled_from(
        [
            "javascript:alert(1)",
            "<script>alert(1)</script>",
            "<scr<script>ipt>alert(1)</script>",
            '<a href="javascript:alert(1)">x</a>',
            "<svg onload=alert(1)>",
            "http://[::1",
            "https://news.example/ok",
            "https://news.example/\x00",
        ]
    ),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    url=hostile, headline=hostile, summary=hostile, image_url=hostile, byline=hostile, alt=hostile
)
def test_hostile_story_input_is_a_validation_error_or_a_safe_story(
    url: str, headline: str, summary: str, image_url: str, byline: str, alt: str
) -> None:
    data = StoryInput(
        url=url,
        headline=headline,
        summary=summary,
        image_url=image_url,
        byline=byline,
        image_alt=alt,
    )

    try:
        story, _ = stories.story_upsert(data=data, source="api")
    except ValidationError:
        return

    assert story.url.startswith(("http://", "https://"))
    assert not story.image_url or story.image_url.startswith(("http://", "https://"))
    assert "<script" not in story.summary.lower()
    assert not re.search(r"\son\w+=", story.summary)
    for href in re.findall(r'href="([^"]*)"', story.summary):
        assert href.startswith(("http://", "https://", "mailto:"))
    assert Story.objects.filter(url=story.url).count() == 1
    assert Feed.objects.count() == 0
