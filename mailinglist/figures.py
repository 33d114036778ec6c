"""What the audience did, as the newsroom dashboard shows it: list sizes, the audience per day
(signups, confirmations, unsubscribes, hard bounces, complaints) and the pages readers signed up on.

Every figure is counted through indexes, so it stays fast at a million readers:

- list sizes: subscriptions per (list, state), the `subscription_list_state` index;
- the audience per day: consent records by (kind, at) and the suppression list by
  (reason, created_at). Days that are over do not change (records are appended at the time they
  happen), so they are counted once and kept in the cache until midnight; today is counted live;
- signups by source page: the same consent records, grouped by the page they came from;
- all-time counters for /metrics: signup requests by their id, confirmations by (kind, at)
  with the days before today kept until midnight.

The cache is Redis; when Redis is down everything is counted live (slower, never wrong).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from mailinglist.models import ConsentEvent, MailingList, SignupRequest, Subscription, Suppression

logger = logging.getLogger(__name__)
T = TypeVar("T")

SOURCES_SHOWN = 10
# The dashboard's keys: the newsroom dashboard's other figures are kept under the same prefix.
CACHE_PREFIX = "dashboard"

Kind = ConsentEvent.Kind
Reason = Suppression.Reason


# --- Cache ---------------------------------------------------------------------------------------


def _cached(key: str, seconds: int, compute: Callable[[], T]) -> T:
    """`compute()` kept for `seconds` under `key`; computed every time if Redis is down."""
    full_key = f"{CACHE_PREFIX}:{key}"
    try:
        found = cache.get(full_key)
    except redis.RedisError:
        logger.warning("Dashboard cache unavailable (REDIS_URL); counting live")
        return compute()
    if found is not None:
        return found  # type: ignore[no-any-return]
    value = compute()
    try:
        cache.set(full_key, value, seconds)
    except redis.RedisError:
        logger.warning("Dashboard cache unavailable (REDIS_URL); not kept")
    return value


def _seconds_to_midnight(now: datetime) -> int:
    local = timezone.localtime(now)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)
    return max(60, int((midnight - local).total_seconds()) + 60)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# --- Lists ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSize:
    mailing_list_id: int
    name: str
    slug: str
    active: int
    pending: int
    unsubscribed: int


def list_sizes() -> list[ListSize]:
    """Subscriptions per list and state (active ones are the list's size), every list."""
    counted: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Subscription.objects.order_by()
        .values_list("mailing_list_id", "state")
        .annotate(n=Count("*"))
        .values_list("mailing_list_id", "state", "n")
    )
    for list_id, state, n in rows:
        counted[list_id][state] = n
    return [
        ListSize(
            mailing_list_id=pk,
            name=name,
            slug=slug,
            active=counted[pk].get(Subscription.State.ACTIVE, 0),
            pending=counted[pk].get(Subscription.State.PENDING, 0),
            unsubscribed=counted[pk].get(Subscription.State.UNSUBSCRIBED, 0),
        )
        for pk, name, slug in MailingList.objects.order_by("name").values_list("pk", "name", "slug")
    ]


# --- The audience per day ------------------------------------------------------------------------

_EVENT_FIGURES: dict[str, str] = {
    Kind.SIGNUP: "signups",
    Kind.CONFIRM: "confirmations",
    Kind.UNSUBSCRIBE: "unsubscribes",
}
_SUPPRESSION_FIGURES: dict[str, str] = {Reason.BOUNCED: "bounces", Reason.COMPLAINED: "complaints"}
FIGURES = ("signups", "confirmations", "unsubscribes", "bounces", "complaints")


@dataclass(frozen=True)
class AudienceDay:
    """What happened to the audience on one day (each a person's action, whatever the lists)."""

    day: date
    signups: int = 0
    confirmations: int = 0
    unsubscribes: int = 0
    bounces: int = 0
    complaints: int = 0

    @property
    def net(self) -> int:
        """Readers gained: confirmed, less those who left or whose address bounced.

        A complaint unsubscribes the reader, which is counted among the unsubscribes already.
        """
        return self.confirmations - self.unsubscribes - self.bounces


def _per_day(rows: QuerySet[Any], *, when: str, key: str) -> list[tuple[str, date, int]]:
    """(key, day, count) of `rows`, grouped by the day of their `when` field, in one query."""
    return list(
        rows.order_by()
        .annotate(day=TruncDate(when))
        .values_list(key, "day")
        .annotate(n=Count("*"))
        .values_list(key, "day", "n")
    )


def _counts_by_day(start: datetime, end: datetime) -> dict[date, dict[str, int]]:
    """Consent records and suppressions per day and figure in [start, end)."""
    found: dict[date, dict[str, int]] = defaultdict(dict)
    events = ConsentEvent.objects.filter(kind__in=list(_EVENT_FIGURES), at__gte=start, at__lt=end)
    for kind, day, n in _per_day(events, when="at", key="kind"):
        found[day][_EVENT_FIGURES[kind]] = n
    suppressions = Suppression.objects.filter(
        reason__in=list(_SUPPRESSION_FIGURES), created_at__gte=start, created_at__lt=end
    )
    for reason, day, n in _per_day(suppressions, when="created_at", key="reason"):
        found[day][_SUPPRESSION_FIGURES[reason]] = n
    return dict(found)


def audience_days(*, days: int, now: datetime | None = None) -> list[AudienceDay]:
    """The last `days` days, today included, oldest first (days with nothing are zeros)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    past = _cached(
        f"days:{first.isoformat()}:{today.isoformat()}",
        _seconds_to_midnight(now),
        lambda: _counts_by_day(_day_start(first), _day_start(today)),
    )
    counts = {**past, **_counts_by_day(_day_start(today), _day_start(today + timedelta(days=1)))}
    return [
        AudienceDay(day=day, **counts.get(day, {}))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


@dataclass(frozen=True)
class AudienceTotals:
    signups: int
    confirmations: int
    unsubscribes: int
    bounces: int
    complaints: int
    net: int


def audience_totals(*, audience: Iterable[AudienceDay]) -> AudienceTotals:
    rows = list(audience)
    return AudienceTotals(
        **{name: sum(getattr(day, name) for day in rows) for name in FIGURES},
        net=sum(day.net for day in rows),
    )


# --- Signups by source page ----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSignups:
    source: str  # the page's address without query or fragment; "" for none (API, imports)
    signups: int


def _page(url: str) -> str:
    # utm_* and other query strings would split one article into many rows.
    parts = urlsplit(url.strip())
    if not parts.scheme and not parts.netloc:
        return url.strip().split("?")[0].split("#")[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _signups_by_url(start: datetime, end: datetime) -> dict[str, int]:
    rows = (
        ConsentEvent.objects.filter(kind=Kind.SIGNUP, at__gte=start, at__lt=end)
        .order_by()
        .values_list("source_url")
        .annotate(n=Count("*"))
        .values_list("source_url", "n")
    )
    by_page: dict[str, int] = defaultdict(int)
    for url, n in rows:
        by_page[_page(url or "")] += n
    return dict(by_page)


def signups_by_source(
    *, days: int, now: datetime | None = None, limit: int = SOURCES_SHOWN
) -> list[SourceSignups]:
    """The pages readers signed up on in the last `days` days, most signups first."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    past = _cached(
        f"sources:{first.isoformat()}:{today.isoformat()}",
        _seconds_to_midnight(now),
        lambda: _signups_by_url(_day_start(first), _day_start(today)),
    )
    merged = defaultdict(int, past)
    for page, n in _signups_by_url(_day_start(today), now + timedelta(seconds=1)).items():
        merged[page] += n
    ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [SourceSignups(source=page, signups=n) for page, n in ranked]


# --- All-time counters (for /metrics) ------------------------------------------------------------


@dataclass(frozen=True)
class AudienceCounters:
    signups: int  # signup requests received, from the form and the API
    confirmations: int  # double opt-ins completed


def audience_counters(*, now: datetime | None = None) -> AudienceCounters:
    """Signups and confirmations since the product started, counted cheaply enough to scrape.

    Signup requests are deleted a week after they are applied, so they are counted by their id,
    which every request takes in turn and no deletion gives back (AUTOINCREMENT on SQLite, a
    sequence on PostgreSQL). Confirmations are consent records, counted through (kind, at).
    """
    now = now or timezone.now()
    today = _day_start(timezone.localdate(now))
    confirmations = ConsentEvent.objects.filter(kind=Kind.CONFIRM)
    before_today = _cached(
        f"confirmations-before:{today.isoformat()}",
        _seconds_to_midnight(now),
        lambda: confirmations.filter(at__lt=today).count(),
    )
    latest = SignupRequest.objects.order_by("-pk").values_list("pk", flat=True).first()
    return AudienceCounters(
        signups=latest or 0,
        confirmations=before_today + confirmations.filter(at__gte=today).count(),
    )
