"""The newsroom dashboard on the admin home: the audience, the last digests, what comes next,
and whether the workers keep up.

Each figure lives with what it measures and is composed here for one user: the audience (list
sizes, the audience per day, signups by source) in mailinglist/figures.py, worker and queue
health in operations/queues.py, and the digests' figures here and in delivery/figures.py.
Everything is counted from the tables, through indexes, or from counts kept beside them, so the
page stays fast at a million readers and a thousand digests:

- the last digests: a finished digest's figures change only when a late bounce, complaint or
  unsubscribe arrives, so they are kept for a minute (a quarter of an hour once the digest is a
  day old). Counting them again does not read its million sent rows: its ledger's size is kept
  for a quarter of an hour (only an erasure changes it), its few rows not sent are counted
  through the (digest, state) index, and sent is the difference. A digest going out is counted
  live; one whose ledger retention deleted answers from the counts kept on it. Bounces,
  complaints and possible duplicates are found through indexes of the few rows concerned,
  unsubscribes through the consent records' (kind, at) index (delivery/figures.py).

The cache is Redis; when Redis is down everything is counted live (slower, never wrong).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis
from django.core.cache import cache
from django.utils import timezone

from mailinglist.figures import (
    CACHE_PREFIX,
    AudienceDay,
    AudienceTotals,
    ListSize,
    SourceSignups,
    audience_days,
    audience_totals,
    list_sizes,
    signups_by_source,
)
from newsletters import editions
from newsletters.delivery.figures import DigestFigures, digests_figures
from newsletters.models import Delivery, Digest, EditionSchedule
from operations.queues import WorkerHealth, worker_health

WINDOWS = (30, 90, 365)
DEFAULT_WINDOW = 30
LAST_DIGESTS = 10
NEXT_DIGESTS = 5
# How long a finished digest's figures are kept: a minute while late bounces and complaints
# still arrive, a quarter of an hour once it is a day old. Its report page is always live.
FINISHED_FIGURES_SECONDS = 60
SETTLED_FIGURES_SECONDS = 900

State = Digest.State


def window_parse(raw: str | None) -> int:
    """The window in days a request asked for, if it is one the dashboard offers."""
    try:
        days = int(raw or "")
    except ValueError:
        return DEFAULT_WINDOW
    return days if days in WINDOWS else DEFAULT_WINDOW


# --- Digests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    digest: Digest
    figures: DigestFigures


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

    With them a sent digest's figures are counted again from its few rows not sent (delivery/
    figures.ledger_counts) instead of its million sent ones.
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
    figures: dict[int, DigestFigures] = {}
    for key, value in kept.items():
        # Kept as a plain dict: figures kept by an older release that no longer fit are
        # counted again rather than shown wrong.
        with contextlib.suppress(TypeError):
            figures[finished[key].pk] = DigestFigures(**value)
    to_count = [d for d in digests if d.pk not in figures]
    counted = digests_figures(digests=to_count, totals=_ledger_totals(to_count))
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
