"""The delivery engine's figures for /metrics: what it has sent, what it owes, how late it runs.

Counted at each scrape from the database (and the throttle's bucket in Redis), for every digest
of the cluster, in a handful of aggregate queries through the ledger's indexes:

- **Outcomes so far** (sent, failed by kind, skipped). Digests whose ledger retention reduced to
  counts answer from `retained_counts`, summed in one query over the digests table. The others'
  rows are counted per state through the (digest, state) index, except `sent`: a sent digest
  of a million readers would be a million index entries to count at every scrape, so sent is its
  snapshot's size (`audience_count`) less its rows in any other state, which are few once it is
  out. The rows themselves can go back (a late bounce, a resend, an erased reader); the metrics
  endpoint keeps its counters from going down (operations/metrics.py).
- **Owed now**: rows pending (of which deferred: waiting for a retry time) and being sent.
  Counting them costs as much as the desk's progress bar while a large send is under way.
- **The oldest due row** of a digest being sent: a row never tried is due since its digest's
  snapshot, a retry since its `next_attempt_at` (always later than its own digest's snapshot),
  so only digests without untried rows need their retries read, and only those few rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from newsletters.delivery import pacing, throttle
from newsletters.delivery.failure_kinds import FAILURE_KINDS, failures_by_kind
from newsletters.models import Delivery, Digest

Row = Delivery.State
State = Digest.State
_NOT_SENT = [Row.PENDING, Row.SENDING, Row.FAILED, Row.SKIPPED]
# A digest whose ledger is still rows: id, audience size, state, snapshot time, has untried rows.
_LiveDigest = tuple[int, int, str, datetime | None, bool]


@dataclass(frozen=True)
class DeliveryTotals:
    sent: int
    failed: dict[str, int]  # by failure kind (failure_kinds.FAILURE_KINDS)
    skipped: int
    pending: int
    deferred: int  # pending rows waiting for their retry time
    sending: int
    oldest_due_seconds: float  # 0 when nothing is due


@dataclass(frozen=True)
class ThrottleRates:
    configured: float  # SEND_RATE; 0 = unlimited
    effective: float | None  # what the shared bucket allows now; None when Redis is down


def delivery_totals(*, now: datetime | None = None) -> DeliveryTotals:
    """Every digest's outcomes so far, what is owed now and how long the oldest due row waited."""
    now = now or timezone.now()
    live: list[_LiveDigest] = list(
        Digest.objects.filter(snapshot_at__isnull=False, retained_counts__isnull=True)
        .annotate(has_untried=Exists(_untried_rows()))
        .values_list("pk", "audience_count", "state", "snapshot_at", "has_untried")
    )
    live_ids = [pk for pk, *_ in live]
    kept = _retained_sums()
    by_state, deferred = _unsent_counts(live_ids)
    live_failed = failures_by_kind(digest_ids=live_ids)
    unsent = sum(by_state.values())
    return DeliveryTotals(
        sent=kept["sent"] + max(0, sum(audience for _, audience, *_ in live) - unsent),
        failed={kind: kept[f"failed_{kind}"] + live_failed[kind] for kind in FAILURE_KINDS},
        skipped=kept["skipped"] + by_state[Row.SKIPPED],
        pending=by_state[Row.PENDING],
        deferred=deferred,
        sending=by_state[Row.SENDING],
        oldest_due_seconds=_oldest_due_seconds(live, now=now),
    )


def throttle_rates() -> ThrottleRates:
    """SEND_RATE, and the rate the shared token bucket runs at now (lower after a 421/429)."""
    configured = float(settings.SEND_RATE)
    try:
        effective = throttle.throttle_effective_rate(
            backend_key=throttle.throttle_backend_key(), rate=configured
        )
    except throttle.ThrottleUnavailable:
        return ThrottleRates(configured=configured, effective=None)
    return ThrottleRates(configured=configured, effective=effective)


def domain_pacing_rates() -> dict[str, float] | None:
    """Each receiving-domain group's rate now (0: no limit of its own); None when Redis is down."""
    try:
        return {pace.group: pace.rate for pace in pacing.pacing_states()}
    except throttle.ThrottleUnavailable:
        return None


def _untried_rows() -> QuerySet[Delivery]:
    return Delivery.objects.filter(
        digest_id=OuterRef("pk"), state=Row.PENDING, next_attempt_at__isnull=True
    )


def _kept(key: str) -> Coalesce:
    # A figure retention kept on the digest (JSON), as a number; 0 where it kept none.
    return Coalesce(Cast(KT(f"retained_counts__{key}"), BigIntegerField()), Value(0))


def _retained_sums() -> dict[str, int]:
    """Outcomes of every digest whose ledger retention reduced to counts, summed."""
    with_kinds = Q(retained_counts__has_key="failed_kinds")
    # Kept before failures were kept by kind: hard bounces were, the rest is "other".
    legacy = {"bounced": _kept("bounced"), "other": _kept("failed") - _kept("bounced")}
    sums = Digest.objects.filter(retained_counts__isnull=False).aggregate(
        sent=Sum(_kept("sent")),
        skipped=Sum(_kept("skipped")),
        **{
            f"failed_{kind}": Sum(
                Case(
                    When(with_kinds, then=_kept(f"failed_kinds__{kind}")),
                    default=legacy.get(kind, Value(0)),
                    output_field=BigIntegerField(),
                )
            )
            for kind in FAILURE_KINDS
        },
    )
    return {key: int(value or 0) for key, value in sums.items()}


def _unsent_counts(digest_ids: list[int]) -> tuple[dict[str, int], int]:
    """Rows of `digest_ids` in each state but sent, and the pending ones waiting for a retry."""
    by_state = {str(state): 0 for state in _NOT_SENT}
    if not digest_ids:
        return by_state, 0
    deferred = 0
    rows = (
        Delivery.objects.filter(digest_id__in=digest_ids, state__in=_NOT_SENT)
        .values("state")
        .annotate(
            n=Count("pk"),
            deferred=Count("pk", filter=Q(state=Row.PENDING, next_attempt_at__isnull=False)),
        )
        .values_list("state", "n", "deferred")
    )
    for state, n, waiting in rows:
        by_state[str(state)] = int(n)
        deferred += int(waiting)
    return by_state, deferred


def _oldest_due_seconds(live: list[_LiveDigest], *, now: datetime) -> float:
    sending = [
        (pk, snapshot, untried)
        for pk, _, state, snapshot, untried in live
        if state == State.SENDING and snapshot is not None
    ]
    untried_since = min((snapshot for _, snapshot, untried in sending if untried), default=None)
    # Retries are due after their own digest's snapshot: only an earlier digest's can be older.
    candidates = [
        pk
        for pk, snapshot, untried in sending
        if not untried and (untried_since is None or snapshot < untried_since)
    ]
    retry_since = None
    if candidates:
        retry_since = Delivery.objects.filter(
            digest_id__in=candidates, state=Row.PENDING, next_attempt_at__lte=now
        ).aggregate(at=Min("next_attempt_at"))["at"]
    due = [moment for moment in (untried_since, retry_since) if moment is not None]
    return max(0.0, (now - min(due)).total_seconds()) if due else 0.0
