"""Hostile feed documents (hypothesis): any items or bytes at all are ingested or refused with a
FeedError, and nothing unsafe is ever stored."""

from __future__ import annotations

import contextlib
import re
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters import feeds
from newsletters.models import Feed, Story

pytestmark = pytest.mark.django_db


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
