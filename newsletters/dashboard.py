"""The newsroom dashboard on the admin home: the audience, the last digests, what comes next,
and whether the workers keep up.

Every figure is counted from the tables, through indexes, or from counts kept beside them, so the
page stays fast at a million readers and a thousand digests:

- list sizes: subscriptions per (list, state), the `subscription_list_state` index;
- the audience per day: consent records by (kind, at) and the suppression list by
  (reason, created_at). Days that are over do not change (records are appended at the time they
  happen), so they are counted once and kept in the cache until midnight; today is counted live;
- the last digests: a finished digest's figures change only when a late bounce, complaint or
  unsubscribe arrives, so they are kept for a minute (a quarter of an hour once the digest is a
  day old). Counting them again does not read its million sent rows: its ledger's size is kept
  for a quarter of an hour (only an erasure changes it), its few rows not sent are counted
  through the (digest, state) index, and sent is the difference. A digest going out is counted
  live; one whose ledger retention deleted answers from the counts kept on it. Bounces,
  complaints and possible duplicates are found through indexes of the few rows concerned,
  unsubscribes through the consent records' (kind, at) index (reports.py);
- worker and queue health: the heartbeats and the broker's lists in Redis.

The cache is Redis; when Redis is down everything is counted live (slower, never wrong).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from mailinglist.models import ConsentEvent, MailingList, Subscription, Suppression
from newsletters import editions
from newsletters.delivery import reports
from newsletters.models import Delivery, Digest, EditionSchedule

logger = logging.getLogger(__name__)
T = TypeVar("T")

WINDOWS = (30, 90, 365)
DEFAULT_WINDOW = 30
LAST_DIGESTS = 10
NEXT_DIGESTS = 5
SOURCES_SHOWN = 10
# How long a finished digest's figures are kept: a minute while late bounces and complaints
# still arrive, a quarter of an hour once it is a day old. Its report page is always live.
FINISHED_FIGURES_SECONDS = 60
SETTLED_FIGURES_SECONDS = 900
CACHE_PREFIX = "dashboard"

# Kombu's Redis transport keeps a list per queue, plus one per priority step it was given.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED_KEY = "unacked"

State = Digest.State
Kind = ConsentEvent.Kind
Reason = Suppression.Reason


def window_parse(raw: str | None) -> int:
    """The window in days a request asked for, if it is one the dashboard offers."""
    try:
        days = int(raw or "")
    except ValueError:
        return DEFAULT_WINDOW
    return days if days in WINDOWS else DEFAULT_WINDOW


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


# --- Digests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    digest: Digest
    figures: reports.DigestFigures


def _stamp(digest: Digest) -> float:
    # In cache keys beside the id: SQLite reuses the id of a deleted digest.
    return digest.snapshot_at.timestamp() if digest.snapshot_at else 0


def _figures_key(digest: Digest) -> str:
    return f"{CACHE_PREFIX}:figures:{digest.pk}:{_stamp(digest)}"


def _figures_seconds(digest: Digest, now: datetime) -> int:
    # Late bounces and complaints arrive in the first hours; after a day the figures barely move.
    finished = digest.sent_at or digest.updated_at
    recent = finished is None or now - finished < timedelta(days=1)
    return FINISHED_FIGURES_SECONDS if recent else SETTLED_FIGURES_SECONDS


def _ledger_totals(digests: list[Digest]) -> dict[int, int]:
    """Ledger sizes of sent digests, kept a quarter of an hour: only an erasure changes one.

    With them a sent digest's figures are counted again from its few rows not sent (reports.
    ledger_counts) instead of its million sent ones.
    """
    sent = {f"{CACHE_PREFIX}:total:{d.pk}:{_stamp(d)}": d for d in digests if d.state == State.SENT}
    try:
        kept: dict[str, Any] = cache.get_many(list(sent)) if sent else {}
    except redis.RedisError:
        kept = {}
    totals = {sent[key].pk: int(value) for key, value in kept.items()}
    fresh = {}
    for key, digest in sent.items():
        if digest.pk not in totals:
            totals[digest.pk] = fresh[key] = Delivery.objects.filter(digest_id=digest.pk).count()
    if fresh:
        with contextlib.suppress(redis.RedisError):
            cache.set_many(fresh, SETTLED_FIGURES_SECONDS)
    return totals


def last_digests(*, limit: int = LAST_DIGESTS, now: datetime | None = None) -> list[DigestLine]:
    """The digests that went out (or are going) most recently, newest first, with figures.

    A finished digest's figures are kept for a while (its ledger is a million rows to count);
    a digest going out, and one whose ledger retention reduced to counts, are counted now.
    """
    now = now or timezone.now()
    digests = list(
        Digest.objects.filter(snapshot_at__isnull=False)
        .select_related("mailing_list")
        .order_by("-snapshot_at", "-id")[:limit]
    )
    finished = {
        _figures_key(d): d
        for d in digests
        if not d.retained_counts and d.state in {State.SENT, State.CANCELLED}
    }
    try:
        kept: dict[str, Any] = cache.get_many(list(finished)) if finished else {}
    except redis.RedisError:
        kept = {}
    figures: dict[int, reports.DigestFigures] = {}
    for key, value in kept.items():
        # Kept as a plain dict: figures kept by an older release that no longer fit are
        # counted again rather than shown wrong.
        with contextlib.suppress(TypeError):
            figures[finished[key].pk] = reports.DigestFigures(**value)
    to_count = [d for d in digests if d.pk not in figures]
    counted = reports.digests_figures(digests=to_count, totals=_ledger_totals(to_count))
    figures.update(counted)
    with contextlib.suppress(redis.RedisError):  # counted again next time, that is all
        for key, digest in finished.items():
            if digest.pk in counted:
                value = dataclasses.asdict(counted[digest.pk])
                cache.set(key, value, _figures_seconds(digest, now))
    return [DigestLine(digest=d, figures=figures[d.pk]) for d in digests]


def next_digests(*, limit: int = NEXT_DIGESTS) -> list[Digest]:
    """Digests scheduled (or waiting for a second person's approval), soonest first."""
    return list(
        Digest.objects.filter(state__in=[State.SCHEDULED, State.AWAITING_APPROVAL])
        .select_related("mailing_list")
        .order_by("send_at", "id")[:limit]
    )


@dataclass(frozen=True)
class NextEdition:
    schedule: EditionSchedule
    due_at: datetime
    digest: Digest | None  # composed already (it is composed lead_minutes before due_at)


def next_editions(*, now: datetime | None = None) -> list[NextEdition]:
    """Each active recurring edition's next slot, soonest first, with its digest if composed."""
    now = now or timezone.now()
    slots = []
    for schedule in EditionSchedule.objects.filter(is_active=True).select_related("mailing_list"):
        due = editions.edition_next_due(schedule=schedule, after=now)
        if due is not None:
            slots.append((schedule, due))
    composed = {
        (d.edition_of_id, d.edition_due_at): d
        for d in Digest.objects.filter(
            edition_of_id__in=[s.pk for s, _ in slots],
            edition_due_at__in=[due for _, due in slots],
        )
    }
    return sorted(
        (NextEdition(schedule=s, due_at=due, digest=composed.get((s.pk, due))) for s, due in slots),
        key=lambda edition: edition.due_at,
    )


# --- Workers and queues --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueLength:
    name: str
    waiting: int


@dataclass(frozen=True)
class WorkerHealth:
    is_redis_up: bool
    workers_alive: int = 0
    beat_seconds_ago: float | None = None
    queues: list[QueueLength] = field(default_factory=list)
    in_progress: int = 0  # tasks a worker has taken and not yet acknowledged

    @property
    def is_beat_late(self) -> bool:
        return self.beat_seconds_ago is None or self.beat_seconds_ago > 120


def queue_names() -> list[str]:
    return [str(queue.name) for queue in settings.CELERY_TASK_QUEUES]


def worker_health() -> WorkerHealth:
    """Workers seen lately, beat's last tick, and how many tasks wait in each queue."""
    from operations import heartbeat
    from operations.redis_client import redis_client

    names = queue_names()
    try:
        pipe = redis_client().pipeline()
        for name in names:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEP}{step}")
        pipe.hlen(_UNACKED_KEY)
        lengths = pipe.execute()
        alive = heartbeat.alive_worker_count()
        beat = heartbeat.beat_last_tick_age()
    except redis.RedisError:
        return WorkerHealth(is_redis_up=False)
    per_queue = len(_PRIORITY_STEPS) + 1
    queues = [
        QueueLength(name=name, waiting=sum(lengths[i * per_queue : (i + 1) * per_queue]))
        for i, name in enumerate(names)
    ]
    return WorkerHealth(
        is_redis_up=True,
        workers_alive=alive,
        beat_seconds_ago=None if beat is None else round(beat, 1),
        queues=queues,
        in_progress=int(lengths[-1]),
    )


# --- The page ------------------------------------------------------------------------------------


class Viewer(Protocol):
    """Whoever asks: a user (or the anonymous one), as far as permissions go."""

    def has_perm(self, perm: str, obj: Any = ...) -> bool: ...


@dataclass(frozen=True)
class Dashboard:
    """What one user may see; a part they may not see is None."""

    window: int
    lists: list[ListSize] | None
    audience: list[AudienceDay] | None
    audience_totals: AudienceTotals | None
    shows_consent: bool  # signups, confirmations, unsubscribes
    shows_suppression: bool  # bounces, complaints
    sources: list[SourceSignups] | None
    digests: list[DigestLine]
    next_digests: list[Digest]
    next_editions: list[NextEdition] | None
    health: WorkerHealth


def dashboard_for(*, user: Viewer, window: int, now: datetime | None = None) -> Dashboard | None:
    """The dashboard as `user` may see it (None without newsletters.view_digest)."""
    if not user.has_perm("newsletters.view_digest"):
        return None
    now = now or timezone.now()
    shows_consent = user.has_perm("mailinglist.view_consentevent")
    shows_suppression = user.has_perm("mailinglist.view_suppression")
    audience = audience_days(days=window, now=now) if shows_consent or shows_suppression else None
    return Dashboard(
        window=window,
        lists=list_sizes() if user.has_perm("mailinglist.view_mailinglist") else None,
        audience=audience,
        audience_totals=audience_totals(audience=audience) if audience is not None else None,
        shows_consent=shows_consent,
        shows_suppression=shows_suppression,
        sources=signups_by_source(days=window, now=now) if shows_consent else None,
        digests=last_digests(),
        next_digests=next_digests(),
        next_editions=(
            next_editions(now=now) if user.has_perm("newsletters.view_editionschedule") else None
        ),
        health=worker_health(),
    )
