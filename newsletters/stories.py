"""Stories from every source (admin, feeds, the API) go through one upsert with one set of rules.

Staff and feed HTML is cleaned with an allow-list (nh3): what survives is what a newsletter needs
(paragraphs, emphasis, links), never scripts, styles or event handlers. URLs must be absolute
http(s): anything else could not be clicked from a mail client, or would be a javascript: trap.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import nh3
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from newsletters.models import Feed, Story
from newsletters.story_images import story_image_changed

ALLOWED_TAGS = {"p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
MAX_HEADLINE = 300
MAX_SUMMARY_CHARS = 5000

_url_validator = URLValidator(schemes=["http", "https"])


def html_clean(raw: str, *, absolute_links_only: bool = True) -> str:
    """Staff or feed HTML reduced to the allow-list; links only to http(s) and mailto.

    `absolute_links_only=False` keeps relative links, for text the pre-send checks read before
    it can go out (a digest's Markdown): there a relative link is reported for the editor to
    fix, rather than silently unlinked.
    """
    # A lone surrogate (JSON can carry "\ud800") cannot cross into nh3's Rust: replace it.
    text = (raw or "").encode("utf-8", "replace").decode("utf-8")
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        attribute_filter=_absolute_links_only if absolute_links_only else None,
        link_rel="noopener",
    ).strip()


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    # url_schemes lets relative links through ("", "/a", "//host/a"); in a mail client, with no
    # page to be relative to, they go nowhere or somewhere unintended.
    if attribute == "href" and not value.lower().startswith(("http://", "https://", "mailto:")):
        return None
    return value


def url_check(raw: str, *, field_name: str = "url") -> str:
    """An absolute http(s) URL, trimmed; ValidationError naming the field otherwise."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError(f"{field_name}: an address is required.")
    if len(value) > 1000:
        raise ValidationError(f"{field_name}: at most 1,000 characters.")
    invalid = ValidationError(f"{field_name}: {value[:100]!r} is not a valid web address.")
    try:
        scheme = urlsplit(value).scheme.lower()
    except ValueError:  # urlsplit raises on a broken IPv6 host ("http://[::1")
        raise invalid from None
    if scheme not in {"http", "https"}:
        raise ValidationError(f"{field_name}: must start with http:// or https://.")
    # URLValidator lets NUL and other control characters through; PostgreSQL refuses NUL.
    if not value.isprintable():
        raise invalid
    try:
        _url_validator(value)
    except ValidationError:
        raise invalid from None
    return value


def text_clean(raw: str | None, *, limit: int) -> str:
    """One line of plain text: control characters and surplus whitespace removed, capped."""
    if not raw:
        return ""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(raw)).split())[:limit]


def _html_truncate(cleaned: str, *, limit: int) -> str:
    """Clean HTML cut to about `limit` characters and still well formed.

    A plain slice can end inside a tag (`<a href="https://ex`), which would swallow whatever a
    template puts after it; cleaning the cut again drops the partial tag and closes open ones.
    """
    if len(cleaned) <= limit:
        return cleaned
    return html_clean(cleaned[:limit])


@dataclass(frozen=True)
class StoryInput:
    """A story as it arrives from outside, before validation."""

    url: str
    headline: str
    summary: str = ""
    image_url: str = ""
    image_alt: str = ""
    section: str = ""
    byline: str = ""
    published_at: datetime | None = None
    featured: bool | None = None  # None: leave as it is (new stories are not featured)


def story_validate(*, data: StoryInput) -> dict[str, object]:
    """The cleaned fields of a story, or ValidationError listing every problem at once."""
    problems: list[str] = []
    fields: dict[str, object] = {}
    try:
        fields["url"] = url_check(data.url)
    except ValidationError as invalid:
        problems.extend(invalid.messages)
    headline = text_clean(data.headline, limit=MAX_HEADLINE)
    if not headline:
        problems.append("headline: a headline is required.")
    fields["headline"] = headline
    fields["summary"] = _html_truncate(html_clean(data.summary), limit=MAX_SUMMARY_CHARS)
    fields["image_url"] = ""
    if data.image_url:
        try:
            fields["image_url"] = url_check(data.image_url, field_name="image_url")
        except ValidationError as invalid:
            problems.extend(invalid.messages)
    fields["image_alt"] = text_clean(data.image_alt, limit=300)
    fields["section"] = text_clean(data.section, limit=80)
    fields["byline"] = text_clean(data.byline, limit=200)
    published = data.published_at
    if published is not None and timezone.is_naive(published):
        published = timezone.make_aware(published, timezone.get_default_timezone())
    fields["published_at"] = published
    if problems:
        raise ValidationError(problems)
    return fields


def story_upsert(
    *, data: StoryInput, source: str, feed: Feed | None = None, auto_feature: bool = False
) -> tuple[Story, bool]:
    """Create or update the story at `data.url`; (story, created). Never two rows for one URL.

    An update from a feed or the API refreshes the text but keeps what editors decided: a story
    an editor featured stays featured unless the caller says otherwise.
    """
    fields = story_validate(data=data)
    url = str(fields.pop("url"))
    if data.featured is not None:
        fields["is_featured"] = data.featured
    existing = Story.objects.filter(url=url).first()
    if existing is not None:
        image_before = existing.image_url
        for name, value in fields.items():
            setattr(existing, name, value)
        if existing.image_url != image_before:
            story_image_changed(existing)
        existing.save()
        return existing, False
    story = Story(
        url=url,
        source=source,
        feed=feed,
        **({"is_featured": True} if auto_feature and data.featured is None else {}),
        **fields,
    )
    try:
        with transaction.atomic():
            story_image_changed(story)
            story.save(force_insert=True)
    except IntegrityError:
        # The same URL arrived twice at once (a feed and the API, say): update the winner.
        return story_upsert(data=data, source=source, feed=feed, auto_feature=False)
    return story, True


def stories_feature(*, story_ids: list[int], featured: bool) -> int:
    """Feature or unfeature stories in bulk; returns how many changed."""
    return (
        Story.objects.filter(pk__in=story_ids)
        .exclude(is_featured=featured)
        .update(is_featured=featured, updated_at=timezone.now())
    )


def plain_text(raw: str, *, limit: int) -> str:
    """Text from HTML (feeds often escape it twice) as plain text with no markup left.

    Tags are stripped and entities decoded until nothing changes, so `&lt;script&gt;` never
    becomes a tag; a pathological nesting keeps its last escaped form instead."""
    text = raw[: limit * 4]
    for _ in range(8):
        stripped = nh3.clean(text.encode("utf-8", "replace").decode("utf-8"), tags=set())
        decoded = html.unescape(stripped)
        if decoded == text:
            break
        text = decoded
    else:
        text = stripped
    return text_clean(text, limit=limit)
