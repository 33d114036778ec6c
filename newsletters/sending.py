"""The sending engine's spine: dispatch, audience snapshot, fan-out into batches, finishing.

The database is the source of truth and Redis only a transport (DESIGN.md §2): every promise
below holds however many tasks Redis loses or repeats.
- A digest is claimed for sending by one conditional UPDATE; a second beat or click finds nothing.
- Its audience becomes Delivery rows in one INSERT ... SELECT, at most one per reader.
- Fixed blocks of those rows are queued as batch tasks; a batch (batches.py) claims its pending
  rows by conditional UPDATE, so two copies of a batch task send each message once.
- The reconciler (reconciling.py) puts rows whose worker died back to pending, re-enqueues work
  whose task was lost, and marks a digest sent only when no row is pending or sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, IntegerField, Q
from django.utils import timezone

from mailinglist.models import Subscriber, Subscription, Suppression
from newsletters import rendering
from newsletters.models import Delivery, Digest, DigestEvent

logger = logging.getLogger(__name__)
State = Digest.State
Row = Delivery.State

BATCH_SIZE = 200
# Longer than a batch may run (its task's time limit), so only a dead worker's rows expire.
LEASE = timedelta(minutes=10)
# A queued-batch marker outlives the broker's visibility timeout (15 min), after which Redis
# would hand an unacknowledged task out again anyway.
QUEUED_MARKER_SECONDS = 20 * 60


@dataclass(frozen=True)
class BatchRange:
    digest_id: int
    first_id: int
    last_id: int


def digest_event(digest_id: int, action: str, *, by: User | None = None, detail: str = "") -> None:
    DigestEvent.objects.create(digest_id=digest_id, action=action, by=by, detail=detail[:300])


# --- Dispatch and snapshot -----------------------------------------------------------------------


def digests_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled digest whose send_at has come; returns the ids started here."""
    moment = now or timezone.now()
    due = Digest.objects.filter(state=State.SCHEDULED, send_at__lte=moment).values_list(
        "pk", flat=True
    )
    return [digest_id for digest_id in list(due[:100]) if digest_start(digest_id=digest_id)]


def digest_start(*, digest_id: int) -> bool:
    """Claim a due digest (scheduled → sending), freeze its render, snapshot, fan out."""
    claimed = Digest.objects.filter(pk=digest_id, state=State.SCHEDULED).update(
        state=State.SENDING, updated_at=timezone.now()
    )
    if not claimed:
        return False  # another beat, worker or click got there first
    digest_event(digest_id, "started")
    digest_snapshot(digest_id=digest_id)
    return True


def audience_count(*, mailing_list_id: int) -> int:
    """Readers a digest to this list would go to now: the snapshot's rule, counted."""
    now = timezone.now()
    return (
        Subscription.objects.filter(
            mailing_list_id=mailing_list_id, state=Subscription.State.ACTIVE
        )
        .filter(Q(subscriber__paused_until__isnull=True) | Q(subscriber__paused_until__lte=now))
        .exclude(subscriber__email_hash__in=Suppression.objects.values("email_hash"))
        .count()
    )


def digest_snapshot(*, digest_id: int) -> int:
    """Freeze the render and put the audience in the ledger (idempotent); returns its size.

    Active subscriptions of the list, readers not pausing, addresses not suppressed; each batch
    checks unsubscribes and suppressions again right before sending.
    """
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    rendering.digest_freeze(digest=digest)
    now = timezone.now()
    delivery, subscription = Delivery._meta.db_table, Subscription._meta.db_table
    subscriber, suppression = Subscriber._meta.db_table, Suppression._meta.db_table
    # A second snapshot of the same digest (the reconciler's, after an interrupted start) keeps
    # the rows there are; the first needs no conflict check, which costs a tenth of its time.
    on_conflict = (
        "ON CONFLICT DO NOTHING" if Delivery.objects.filter(digest_id=digest_id).exists() else ""
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement, however large the list: no query per reader.
        cursor.execute(
            f"""
            INSERT INTO {delivery} (digest_id, subscriber_id, state, attempts, last_error,
                                    message_id, claimed_by, expired_claims)
            SELECT %s, s.subscriber_id, %s, 0, '', '', '', 0
            FROM {subscription} s JOIN {subscriber} r ON r.id = s.subscriber_id
            WHERE s.mailing_list_id = %s AND s.state = %s
              AND (r.paused_until IS NULL OR r.paused_until <= %s)
              AND NOT EXISTS (SELECT 1 FROM {suppression} x WHERE x.email_hash = r.email_hash)
            {on_conflict}
            """,  # noqa: S608 - table names from our own models; values are parameters
            [
                digest_id,
                Row.PENDING,
                digest.mailing_list_id,
                Subscription.State.ACTIVE,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        # A first snapshot's rows are exactly those it inserted; a second one keeps earlier rows.
        total = (
            Delivery.objects.filter(digest_id=digest_id).count() if on_conflict else cursor.rowcount
        )
        Digest.objects.filter(pk=digest_id).update(snapshot_at=now, audience_count=total)
    transaction.on_commit(lambda: batches_enqueue(digest_id=digest_id))
    return total


def batch_ranges(*, digest_id: int) -> list[BatchRange]:
    """The fixed id blocks of BATCH_SIZE rows that hold due pending rows.

    Blocks are fixed (counted from the digest's first row) rather than recomputed from what is
    pending, so a block keeps one identity, and one "queued" marker, for the whole send. The
    database groups the rows into blocks: a million-row ledger comes back as 5,000 numbers.
    """
    rows = Delivery.objects.filter(digest_id=digest_id)
    base = rows.order_by("pk").values_list("pk", flat=True).first()
    if base is None:
        return []
    blocks = (
        rows.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()),
            state=Row.PENDING,
        )
        .annotate(
            block=ExpressionWrapper((F("pk") - base) / BATCH_SIZE, output_field=IntegerField())
        )
        .order_by("block")
        .values_list("block", flat=True)
        .distinct()
    )
    return [
        BatchRange(
            digest_id=digest_id,
            first_id=base + block * BATCH_SIZE,
            last_id=base + (block + 1) * BATCH_SIZE - 1,
        )
        for block in blocks
    ]


def queued_key(batch: BatchRange) -> str:
    return f"newsdesk:batch-queued:{batch.digest_id}:{batch.first_id}"


def batches_enqueue(*, digest_id: int) -> int:
    """Queue a task for every block of due pending rows not already queued; returns how many.

    A marker in Redis (SET NX, expiring after the broker's visibility timeout) says a block's
    task is queued, so the reconciler re-queues only what Redis lost — after a FLUSHALL the
    markers are gone with the tasks — and the queue never fills with copies of the same work.
    """
    from newsletters.tasks import send_batch
    from operations.heartbeat import redis_client

    client = redis_client()
    queued = 0
    for batch in batch_ranges(digest_id=digest_id):
        if client.set(queued_key(batch), "1", nx=True, ex=QUEUED_MARKER_SECONDS):
            send_batch.delay(batch.digest_id, batch.first_id, batch.last_id)
            queued += 1
    return queued


# --- Finishing and reconciling -------------------------------------------------------------------


def digest_finish_if_done(*, digest_id: int) -> bool:
    """Mark a sending digest sent once nothing is pending or sending; True if it was marked."""
    if Delivery.objects.filter(digest_id=digest_id, state__in=[Row.PENDING, Row.SENDING]).exists():
        return False
    finished = Digest.objects.filter(
        pk=digest_id, state=State.SENDING, snapshot_at__isnull=False
    ).update(state=State.SENT, sent_at=timezone.now())
    if finished:
        digest_event(digest_id, "sent")
        publisher_notify(digest_id=digest_id, action="sent")
    return bool(finished)


def publisher_notify(*, digest_id: int, action: str) -> None:
    """Queue the mail that tells the Publisher how their send ended (sent, or paused on a fault)."""
    from newsletters.tasks import notify_publisher

    transaction.on_commit(lambda: notify_publisher.delay(digest_id, action))
