"""RSS/Atom ingest: beat polls each due feed and upserts its items as stories, never twice.

We fetch with urllib and hand feedparser only bytes: feedparser's own fetching has no timeout and
no size limit, and one feed server that hangs or streams forever must not hold up the tick. Every
failure (network, HTTP status, a document that is not a feed) is recorded on the feed's row with a
backoff; nothing raises out of `feeds_poll_due`.
"""

from __future__ import annotations

import calendar
import html
import io
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from http.client import HTTPException, HTTPResponse
from typing import Any

import feedparser  # type: ignore[import-untyped]
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from newsletters import stories
from newsletters.models import Feed, Story
from operations.http_fetch import is_web_url, web_only_opener

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = 15.0  # seconds, for each socket operation and for the whole body
MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_ENTRIES = 200  # a feed lists its newest items first; older ones are already stored
MAX_BACKOFF = timedelta(hours=24)
# A claim sets last_polled_at to now and next_poll_at to now + CLAIM_LEASE, so while a poll runs
# the two are exactly the lease apart. It is longer than any fetch and ingest: a worker killed
# mid-poll only delays that feed until the lease runs out, never loses it.
CLAIM_LEASE = timedelta(minutes=10)
# Beat ticks every 60 s: stop claiming feeds in time for this tick to end before the next.
TICK_BUDGET = 30.0
_EMAIL = re.compile(r"\S+@\S+")


class Outcome(StrEnum):
    INGESTED = "ingested"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"
    BUSY = "busy"  # another worker (or click) holds the feed


@dataclass(frozen=True)
class FeedPollResult:
    feed_id: int
    outcome: Outcome
    created: int = 0
    updated: int = 0  # items already stored, refreshed
    skipped: int = 0  # items without an http(s) link or a headline
    error: str = ""
    feed_title: str = ""  # the title the document gives itself


class FeedError(Exception):
    """A feed could not be fetched or read; the message is one line an editor can act on."""


# --- Polling -----------------------------------------------------------------------------------


def feeds_poll_due(
    *,
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_FEED_BYTES,
    budget: float = TICK_BUDGET,
) -> list[FeedPollResult]:
    """Poll every active feed that is due, each by exactly one worker; never raises for a feed."""
    started = time.monotonic()
    due = _due(timezone.now()).order_by(F("next_poll_at").asc(nulls_first=True), "pk")
    candidates = list(due.values_list("pk", flat=True)[:500])
    results: list[FeedPollResult] = []
    for feed_id in candidates:
        if time.monotonic() - started > budget:
            break  # the rest stay due for the next tick
        now = timezone.now()
        # The conditional UPDATE is the claim: of two beats or workers, one changes the row.
        if not _due(now).filter(pk=feed_id).update(**_lease(now)):
            continue
        try:
            results.append(_poll_claimed(feed_id=feed_id, timeout=timeout, max_bytes=max_bytes))
        except Exception:  # not even recorded (feed deleted, database down): the lease expires
            logger.exception("Feed %s: the poll could not be recorded", feed_id)
    return results


def feed_poll(
    *, feed_id: int, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_FEED_BYTES
) -> FeedPollResult:
    """Poll one feed now, due or not (inactive too); BUSY while another poll of it runs."""
    feed = Feed.objects.get(pk=feed_id)
    now, start, end = timezone.now(), feed.last_polled_at, feed.next_poll_at
    if start and end and end > now and end - start == CLAIM_LEASE:  # a lease still running
        return FeedPollResult(feed_id=feed_id, outcome=Outcome.BUSY)
    # Compare-and-set on the values just read: of two clicks, or a click and a tick, one claims.
    as_read = Feed.objects.filter(pk=feed_id, next_poll_at=end, last_polled_at=start)
    if not as_read.update(**_lease(now)):
        return FeedPollResult(feed_id=feed_id, outcome=Outcome.BUSY)
    return _poll_claimed(feed_id=feed_id, timeout=timeout, max_bytes=max_bytes)


def _lease(now: datetime) -> dict[str, datetime]:
    return {"last_polled_at": now, "next_poll_at": now + CLAIM_LEASE}


def _due(now: datetime) -> QuerySet[Feed]:
    return Feed.objects.filter(is_active=True).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
    )


def _poll_claimed(*, feed_id: int, timeout: float, max_bytes: int) -> FeedPollResult:
    feed = Feed.objects.get(pk=feed_id)
    try:
        fetched = _fetch(feed, timeout=timeout, max_bytes=max_bytes)
        if fetched.status == 304:
            result = FeedPollResult(feed_id=feed_id, outcome=Outcome.NOT_MODIFIED)
        else:
            result = feed_document_ingest(
                feed=feed,
                document=fetched.body,
                content_type=fetched.content_type,
                base_url=fetched.url,
            )
    except FeedError as error:
        return _record_failure(feed=feed, message=str(error))
    except Exception as error:
        # A bug or a database hiccup on one feed must not stop the others in this tick.
        logger.exception("Feed %s (%s) failed unexpectedly", feed_id, feed.url)
        return _record_failure(feed=feed, message=f"Unexpected error: {error!r}")
    _record_success(feed=feed, fetched=fetched, title=result.feed_title)
    return result


def _record_success(*, feed: Feed, fetched: _Fetched, title: str) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {
        "next_poll_at": now + _interval(feed),
        "last_error": "",
        "last_error_at": None,
        "error_count": 0,
    }
    if fetched.status != 304:
        changes.update(etag=fetched.etag, last_modified=fetched.last_modified)
    if not feed.title and title:
        changes["title"] = title
    # update(), not save(): an editor may be changing the feed's settings in admin meanwhile.
    Feed.objects.filter(pk=feed.pk).update(**changes)


def _record_failure(*, feed: Feed, message: str) -> FeedPollResult:
    message = " ".join(message.split())[:500] or "Unknown error"
    errors = feed.error_count + 1
    now = timezone.now()
    delay = min(_interval(feed) * 2 ** min(errors, 20), MAX_BACKOFF)
    logger.warning("Feed %s (%s): %s; next try in %s", feed.pk, feed.url, message, delay)
    Feed.objects.filter(pk=feed.pk).update(
        last_error=message,
        last_error_at=now,
        error_count=errors,
        next_poll_at=now + delay,
    )
    return FeedPollResult(feed_id=feed.pk, outcome=Outcome.FAILED, error=message)


def _interval(feed: Feed) -> timedelta:
    return timedelta(minutes=max(feed.poll_interval_minutes, 1))


# --- Fetching ----------------------------------------------------------------------------------


@dataclass
class _Fetched:
    status: int  # 200, or 304 when the feed has not changed since our validators
    url: str  # where the document came from after redirects: the base for relative links
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""


def _fetch(feed: Feed, *, timeout: float, max_bytes: int) -> _Fetched:
    if not is_web_url(feed.url):
        raise FeedError("The feed's address must start with http:// or https://.")
    headers = {
        "User-Agent": f"Newsdesk feed reader (+{settings.SITE_URL})",
        "Accept": "application/rss+xml, application/atom+xml, application/xml, */*;q=0.1",
        # Uncompressed: a compressed body could expand past the size limit.
        "Accept-Encoding": "identity",
        # Conditional GET: the server answers 304 with no body when nothing changed.
        **({"If-None-Match": feed.etag} if feed.etag else {}),
        **({"If-Modified-Since": feed.last_modified} if feed.last_modified else {}),
    }
    request = urllib.request.Request(feed.url, headers=headers)  # noqa: S310  (http(s) checked)
    opener = web_only_opener(FeedError)
    try:
        with opener.open(request, timeout=timeout) as response:
            if (response.headers.get("Content-Encoding") or "identity").lower() != "identity":
                raise FeedError("The server sent a compressed feed although we asked for none.")
            return _Fetched(
                status=response.status,
                url=response.url,
                body=_read_capped(response, timeout=timeout, max_bytes=max_bytes),
                content_type=response.headers.get("Content-Type") or "",
                # A validator too long for its column is dropped: a cut one would never match.
                etag=_fitting(response.headers.get("ETag"), limit=300),
                last_modified=_fitting(response.headers.get("Last-Modified"), limit=100),
            )
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 304:
            return _Fetched(status=304, url=feed.url)
        raise FeedError(f"HTTP {error.code} {error.reason}".strip()) from None
    except (OSError, HTTPException) as error:  # URLError included: it wraps connect errors
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise FeedError(_network_message(reason, timeout=timeout)) from None
    except ValueError as error:  # http.client.InvalidURL and friends
        raise FeedError(f"Not a usable address: {error}") from None


def _read_capped(response: HTTPResponse, *, timeout: float, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length") or ""
    if length.isdigit() and int(length) > max_bytes:
        raise FeedError(f"The feed is larger than {max_bytes:,} bytes.")
    # The socket timeout bounds each read; this deadline bounds a server that trickles bytes.
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read1(64 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise FeedError(f"The feed is larger than {max_bytes:,} bytes.")
        if time.monotonic() > deadline:
            raise FeedError(f"Timed out after {timeout:g} s reading the feed.")
        chunks.append(chunk)
    return b"".join(chunks)


def _network_message(reason: object, *, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"Timed out after {timeout:g} s."
    if isinstance(reason, ConnectionRefusedError):
        return "Connection refused: nothing is listening at that address."
    if isinstance(reason, socket.gaierror):
        return f"Could not find the server ({reason.strerror})."
    return f"Network error: {type(reason).__name__}: {reason}"


# --- Parsing and ingest ------------------------------------------------------------------------


def feed_document_ingest(
    *, feed: Feed, document: bytes, content_type: str = "", base_url: str = ""
) -> FeedPollResult:
    """Upsert a fetched RSS/Atom document's items as stories of `feed`; FeedError if not a feed.

    Well-formed enough is enough: feedparser's lenient parser keeps the entries of a feed with,
    say, a wrong declared encoding (bozo), and those are ingested.
    """
    parsed = feedparser.parse(
        io.BytesIO(document),  # bytes, never a str: feedparser would open a str as a path or URL
        response_headers={"content-type": content_type, "content-location": base_url or feed.url},
        resolve_relative_uris=True,  # relative links become absolute against the feed's address
    )
    created = updated = skipped = 0
    for entry in list(parsed.get("entries") or [])[:MAX_ENTRIES]:
        try:
            _story, is_new = stories.story_upsert(
                data=_entry_story(entry, section=feed.section),
                source=Story.Source.FEED,
                feed=feed,
                auto_feature=feed.is_auto_feature,
            )
        except ValidationError:
            skipped += 1  # no http(s) link or no headline: nothing an editor could use
            continue
        created, updated = created + is_new, updated + (not is_new)
    if not (created or updated) and (parsed.get("bozo") or not parsed.get("version")):
        # Nothing usable from a broken document (the lenient parser may still find an empty
        # "item" in the rubble): that is a broken feed, not a quiet one.
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements found"
        raise FeedError(f"Not a readable RSS or Atom feed: {reason}")
    if created or skipped:
        logger.info("Feed %s: %d new, %d updated, %d skipped", feed.pk, created, updated, skipped)
    return FeedPollResult(
        feed_id=feed.pk,
        outcome=Outcome.INGESTED,
        created=created,
        updated=updated,
        skipped=skipped,
        feed_title=stories.plain_text(_str((parsed.get("feed") or {}).get("title")), limit=200),
    )


def _entry_story(entry: Any, *, section: str) -> stories.StoryInput:
    # RSS writes "address (Name)", feedparser turns Atom's into "Name (address)": keep the name,
    # never publish the address (feedparser's own split cuts long TLDs such as .example in two).
    byline = " ".join(_EMAIL.sub("", _str(entry.get("author"))).replace("()", "").split())
    if wrapped := re.fullmatch(r"\((.*)\)", byline):
        byline = wrapped.group(1)
    headline = stories.plain_text(_str(entry.get("title")), limit=stories.MAX_HEADLINE)
    image_url = _image_url(entry)
    return stories.StoryInput(
        url=_str(entry.get("link")),
        headline=headline,
        summary=_summary_html(entry),
        image_url=image_url,
        # Feeds rarely describe their images; the headline is what the picture illustrates, and
        # an image with no alt text would stop every digest with it at the pre-send checks.
        image_alt=headline if image_url else "",
        section=section,
        byline=stories.plain_text(byline, limit=200),
        published_at=_when(entry.get("published_parsed") or entry.get("updated_parsed")),
    )


def _summary_html(entry: Any) -> str:
    detail = entry.get("summary_detail") or {}
    value = _str(entry.get("summary"))
    if not value and entry.get("content"):
        detail = entry["content"][0]
        value = _str(detail.get("value"))
    # Plain text that says "a < b" must stay text, not become markup for the HTML cleaner.
    return html.escape(value) if detail.get("type") == "text/plain" else value


def _image_url(entry: Any) -> str:
    candidates: list[object] = []
    for media in entry.get("media_content") or []:
        kind, medium = _str(media.get("type")), _str(media.get("medium"))
        if medium == "image" or kind.startswith("image/") or not (kind or medium):
            candidates.append(media.get("url"))
    candidates += [thumbnail.get("url") for thumbnail in entry.get("media_thumbnail") or []]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if link.get("rel") == "enclosure" and _str(link.get("type")).startswith("image/")
    ]
    for candidate in candidates:
        try:
            return stories.url_check(_str(candidate), field_name="image_url")
        except ValidationError:
            continue  # a bad image never costs the story
    return ""


def _when(parsed: Any) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _fitting(value: str | None, *, limit: int) -> str:
    return value if value and len(value) <= limit else ""
