"""The sending engine: dispatch, snapshot, batches, outcomes, reconciliation, controls.

The database is the source of truth and Redis only a transport (DESIGN.md §2): every promise
below holds however many tasks Redis loses or repeats.
- A digest is claimed for sending by one conditional UPDATE; a second beat or click finds nothing.
- Its audience becomes Delivery rows in one INSERT ... SELECT, at most one per reader.
- A batch claims its pending rows by conditional UPDATE, so two copies of a batch task send each
  message once; each outcome is written as it happens.
- The reconciler puts rows whose worker died back to pending, re-enqueues work whose task was
  lost, and marks a digest sent only when no row is pending or sending.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, IntegerField, Q
from django.utils import timezone

from mailinglist.addresses import email_hash
from mailinglist.models import Subscriber, Subscription, Suppression
from mailinglist.subscriptions import suppression_add
from newsletters import mime, rendering, senders, throttle
from newsletters.models import Delivery, Digest, DigestEvent

logger = logging.getLogger(__name__)
State = Digest.State
Row = Delivery.State

BATCH_SIZE = 200
# Re-check subscriptions this many rows at a time, just before sending them: an unsubscribe
# that commits mid-batch is honoured within one group.
GROUP_SIZE = 20
MAX_ATTEMPTS = 8
# The first retry waits settings.DELIVERY_RETRY_BASE_SECONDS; each further one twice as long.
RETRY_MAX_SECONDS = 3600
# Longer than a batch may run (its task's time limit), so only a dead worker's rows expire.
LEASE = timedelta(minutes=10)
# A queued-batch marker outlives the broker's visibility timeout (15 min), after which Redis
# would hand an unacknowledged task out again anyway.
QUEUED_MARKER_SECONDS = 20 * 60
# Permanent failures that mean the address does not exist: suppress it (a hard bounce).
HARD_BOUNCE_CODES = {550, 551, 553}


@dataclass(frozen=True)
class BatchRange:
    digest_id: int
    first_id: int
    last_id: int


def _event(digest_id: int, action: str, *, by: User | None = None, detail: str = "") -> None:
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
    _event(digest_id, "started")
    digest_snapshot(digest_id=digest_id)
    return True


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
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 - table names from our own models; values are parameters
            [
                digest_id,
                Row.PENDING,
                digest.mailing_list_id,
                Subscription.State.ACTIVE,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        total = Delivery.objects.filter(digest_id=digest_id).count()
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


def _queued_key(batch: BatchRange) -> str:
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
        if client.set(_queued_key(batch), "1", nx=True, ex=QUEUED_MARKER_SECONDS):
            send_batch.delay(batch.digest_id, batch.first_id, batch.last_id)
            queued += 1
    return queued


# --- Batches -------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    released: int = 0


_templates: dict[tuple[int, str], mime.MessageTemplate] = {}


def _template(digest: Digest) -> mime.MessageTemplate:
    # Built once per digest per worker process from the frozen render, then reused by every batch.
    key = (digest.pk, str(digest.rendered_at))
    if key not in _templates:
        _templates.clear()
        _templates[key] = mime.message_template_build(
            digest_id=digest.pk,
            mailing_list=digest.mailing_list,
            rendered=rendering.RenderedDigest(
                subject=digest.rendered_subject,
                html=digest.rendered_html,
                text=digest.rendered_text,
            ),
        )
    return _templates[key]


def _retry_at(attempts: int) -> datetime:
    base = settings.DELIVERY_RETRY_BASE_SECONDS
    delay = min(RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return timezone.now() + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311


def batch_send(*, digest_id: int, first_id: int, last_id: int, worker: str = "") -> BatchResult:
    """Send the due pending rows in [first_id, last_id] of a sending digest, recording each."""
    from operations.heartbeat import redis_client

    try:
        return _batch_run(digest_id=digest_id, first_id=first_id, last_id=last_id, worker=worker)
    finally:
        # However the batch ended, it is no longer queued: the reconciler may queue it again if
        # rows of its block are still (or again) owed.
        redis_client().delete(_queued_key(BatchRange(digest_id, first_id, last_id)))


def _batch_run(*, digest_id: int, first_id: int, last_id: int, worker: str) -> BatchResult:
    result = BatchResult()
    digest = Digest.objects.select_related("mailing_list").filter(pk=digest_id).first()
    if digest is None or digest.state != State.SENDING:
        return result  # paused or cancelled: the rows wait (or were skipped); resume re-queues
    token = f"{worker or 'worker'}:{uuid.uuid4().hex[:12]}"
    now = timezone.now()
    claimed = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        digest_id=digest_id,
        pk__gte=first_id,
        pk__lte=last_id,
        state=Row.PENDING,
    ).update(state=Row.SENDING, claimed_by=token, claimed_at=now)
    if not claimed:
        return result
    template = _template(digest)
    rows = list(
        Delivery.objects.filter(claimed_by=token, state=Row.SENDING)
        .select_related("subscriber")
        .order_by("pk")
    )
    try:
        for start in range(0, len(rows), GROUP_SIZE):
            group = rows[start : start + GROUP_SIZE]
            state = Digest.objects.filter(pk=digest_id).values_list("state", flat=True).first()
            if state != State.SENDING:
                break
            try:
                _group_send(digest=digest, template=template, rows=group, result=result)
            except throttle.ThrottleUnavailable:
                # Redis is down: stop; the rows go back to pending and are retried later.
                logger.warning(
                    "Throttle unavailable (REDIS_URL); batch of digest %s stopped", digest_id
                )
                break
    finally:
        released = Delivery.objects.filter(claimed_by=token, state=Row.SENDING)
        if Digest.objects.filter(pk=digest_id, state=State.CANCELLED).exists():
            result.released = released.update(
                state=Row.SKIPPED, last_error="Digest cancelled.", claimed_by=""
            )
        else:
            result.released = released.update(state=Row.PENDING, claimed_by="")
    digest_finish_if_done(digest_id=digest_id)
    return result


def _group_send(
    *, digest: Digest, template: mime.MessageTemplate, rows: list[Delivery], result: BatchResult
) -> None:
    subscriber_ids = [row.subscriber_id for row in rows]
    active = set(
        Subscription.objects.filter(
            mailing_list_id=digest.mailing_list_id,
            state=Subscription.State.ACTIVE,
            subscriber_id__in=subscriber_ids,
        ).values_list("subscriber_id", flat=True)
    )
    hashes = {row.pk: email_hash(row.subscriber.email) for row in rows}
    suppressed = set(
        Suppression.objects.filter(email_hash__in=hashes.values()).values_list(
            "email_hash", flat=True
        )
    )
    for row in rows:
        if row.subscriber_id not in active or hashes[row.pk] in suppressed:
            reason = (
                "Suppressed." if hashes[row.pk] in suppressed else "Unsubscribed before sending."
            )
            Delivery.objects.filter(pk=row.pk).update(
                state=Row.SKIPPED, last_error=reason, claimed_by=""
            )
            result.skipped += 1
            continue
        recipient = mime.recipient_values(
            template=template, subscriber=row.subscriber, mailing_list=digest.mailing_list
        )
        _throttle_wait()
        outcome = senders.message_send(
            from_address=template.envelope_from,
            to=row.subscriber.email,
            raw=mime.message_bytes(template=template, recipient=recipient),
            # Echoed back by ESP tracking webhooks, which find the ledger row by it.
            metadata={"digest": str(digest.pk), "delivery": str(row.pk)},
        )
        if outcome.slow_down:
            throttle.throttle_slow_down(backend_key=_backend_key())
        _record(
            row=row,
            outcome=outcome,
            message_id=mime.message_id(digest_id=digest.pk, subscriber=row.subscriber),
            result=result,
        )


def _backend_key() -> str:
    # One bucket per mail server (or ESP backend), shared by every worker that sends to it.
    if settings.EMAIL_BACKEND == senders.SMTP_BACKEND:
        return f"smtp:{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return str(settings.EMAIL_BACKEND)


def _throttle_wait() -> None:
    # Waiting here is the throttle's whole point (SEND_RATE is shared by all workers); the
    # waits are a token's worth, fractions of a second.
    while (wait := throttle.throttle_take(backend_key=_backend_key(), rate=settings.SEND_RATE)) > 0:
        time.sleep(wait)


def _record(
    *, row: Delivery, outcome: senders.Outcome, message_id: str, result: BatchResult
) -> None:
    attempts = row.attempts + 1
    rows = Delivery.objects.filter(pk=row.pk)
    if outcome.ok:
        rows.update(
            state=Row.SENT,
            attempts=attempts,
            message_id=message_id,
            sent_at=timezone.now(),
            last_error="",
            claimed_by="",
        )
        result.sent += 1
    elif outcome.permanent or attempts >= MAX_ATTEMPTS:
        rows.update(state=Row.FAILED, attempts=attempts, last_error=outcome.error, claimed_by="")
        if outcome.permanent and outcome.code in HARD_BOUNCE_CODES:
            suppression_add(
                email=row.subscriber.email,
                reason=Suppression.Reason.BOUNCED,
                note=outcome.error[:200],
            )
        result.failed += 1
    else:
        rows.update(
            state=Row.PENDING,
            attempts=attempts,
            last_error=outcome.error,
            next_attempt_at=_retry_at(attempts),
            claimed_by="",
        )
        result.retried += 1


# --- Finishing and reconciling -------------------------------------------------------------------


def digest_finish_if_done(*, digest_id: int) -> bool:
    """Mark a sending digest sent once nothing is pending or sending; True if it was marked."""
    if Delivery.objects.filter(digest_id=digest_id, state__in=[Row.PENDING, Row.SENDING]).exists():
        return False
    finished = Digest.objects.filter(
        pk=digest_id, state=State.SENDING, snapshot_at__isnull=False
    ).update(state=State.SENT, sent_at=timezone.now())
    if finished:
        _event(digest_id, "sent")
    return bool(finished)
