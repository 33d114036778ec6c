"""The reconciler: the beat's safety net under the sending engine (every minute).

Rows claimed by a worker that died go back to pending once their lease runs out; a digest whose
snapshot was interrupted is snapshotted again; blocks of owed rows whose task Redis lost are
queued again; and a digest becomes `sent` only when nothing is pending or sending.
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.db.models import F
from django.utils import timezone

from newsletters.delivery.fanout import batches_enqueue
from newsletters.delivery.ledger import LEASE, digest_finish_if_done
from newsletters.delivery.snapshot import digest_snapshot
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client

State = Digest.State
Row = Delivery.State


def deliveries_reconcile(*, lease: timedelta = LEASE) -> dict[str, int]:
    """The beat's safety net: expired claims to pending, lost work re-queued, digests finished."""
    _queues_declare()
    now = timezone.now()
    stale = Delivery.objects.filter(state=Row.SENDING, claimed_at__lt=now - lease)
    # A batch whose worker died never cleared its "queued" marker: clear it so the block is
    # queued again below.
    for digest_id in set(stale.values_list("digest_id", flat=True)):
        _queued_markers_clear(digest_id=digest_id)
    # The worker may have sent some of these before it died: count it on the row, so a reader
    # who gets the digest twice is found in the ledger (and in the digest's admin page).
    expired = stale.update(
        state=Row.PENDING,
        claimed_by="",
        expired_claims=F("expired_claims") + 1,
        last_error="The worker sending this died; sent again (the reader may have it twice).",
    )
    resnapshot = list(
        Digest.objects.filter(
            state=State.SENDING, snapshot_at__isnull=True, updated_at__lt=now - timedelta(minutes=2)
        ).values_list("pk", flat=True)
    )
    for digest_id in resnapshot:
        digest_snapshot(digest_id=digest_id)
    requeued = finished = 0
    for digest_id in Digest.objects.filter(
        state=State.SENDING, snapshot_at__isnull=False
    ).values_list("pk", flat=True):
        # Batches are idempotent (rows are claimed), so re-queuing work that is in fact still
        # queued costs a no-op task, never a second message.
        requeued += batches_enqueue(digest_id=digest_id)
        finished += digest_finish_if_done(digest_id=digest_id)
    return {
        "expired": expired,
        "resnapshot": len(resnapshot),
        "requeued": requeued,
        "finished": finished,
    }


def _queued_markers_clear(*, digest_id: int) -> None:
    client = redis_client()
    keys = list(client.scan_iter(match=f"newsdesk:batch-queued:{digest_id}:*", count=1000))
    if keys:
        client.delete(*keys)


def _queues_declare() -> None:
    # kombu keeps its routing table in Redis; a FLUSHALL (or a Redis restarted without its data)
    # wipes it, and publishing then fails until the queues are declared again. Cheap, so every
    # reconcile does it.
    with current_app.connection_for_write() as conn:
        for queue in current_app.amqp.queues.values():
            queue(conn.default_channel).declare()
