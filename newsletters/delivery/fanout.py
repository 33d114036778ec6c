"""Fan-out: a digest's pending ledger rows queued as batch tasks, each block once."""

from __future__ import annotations

from django.db.models import ExpressionWrapper, F, IntegerField, Q
from django.utils import timezone

from newsletters.delivery.ledger import (
    BATCH_SIZE,
    QUEUED_MARKER_SECONDS,
    BatchRange,
    Row,
    queued_key,
)
from newsletters.models import Delivery
from operations.redis_client import redis_client

# Kombu's Redis transport serves priority 0 (its default) before 3, 6 and 9. A digest's first
# fan-out goes at 3, so that what the reconciler queues again (rows a dead worker held, retries
# now due) is sent ahead of the digest's remaining blocks instead of after all of them.
FANOUT_PRIORITY = 3
RECOVERED_PRIORITY = 0


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


def batches_enqueue(*, digest_id: int, priority: int = FANOUT_PRIORITY) -> int:
    """Queue a task for every block of due pending rows not already queued; returns how many.

    A marker in Redis (SET NX, expiring after the broker's visibility timeout) says a block's
    task is queued, so the reconciler re-queues only what Redis lost — after a FLUSHALL the
    markers are gone with the tasks — and the queue never fills with copies of the same work.
    """
    from newsletters.tasks import send_batch

    client = redis_client()
    queued = 0
    for batch in batch_ranges(digest_id=digest_id):
        if client.set(queued_key(batch), "1", nx=True, ex=QUEUED_MARKER_SECONDS):
            send_batch.apply_async(
                (batch.digest_id, batch.first_id, batch.last_id), priority=priority
            )
            queued += 1
    return queued
