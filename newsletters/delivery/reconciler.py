"""The reconciler: the beat's safety net under the sending engine (every 30 seconds).

Rows claimed by a batch that is gone go back to pending: as soon as Redis shows its claim is no
longer kept alive (claims.py: a dead host, a killed process, a batch ended by an error), or, when
Redis cannot tell, once the ledger's lease runs out. A batch records every message as the server
accepts it, in row order, so of each such claim only its lowest row (its two lowest on PostgreSQL,
where a sent mark's reply is read after the next message leaves: record.py) can have left
without its outcome being written; only those are marked as possible duplicates. A digest whose
snapshot was interrupted is snapshotted again; blocks of owed rows whose task Redis lost are
queued again, ahead of the digest's other work; and a digest becomes `sent` only when nothing is
pending or sending.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import current_app
from django.db import connection
from django.db.models import F, Min
from django.utils import timezone

from newsletters.delivery import claims, record
from newsletters.delivery.fanout import RECOVERED_PRIORITY, batches_enqueue
from newsletters.delivery.ledger import LEASE, digest_finish_if_done
from newsletters.delivery.snapshot import digest_snapshot
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client

State = Digest.State
Row = Delivery.State


def deliveries_reconcile(*, lease: timedelta = LEASE) -> dict[str, int]:
    """The beat's safety net: dead claims to pending, lost work re-queued, digests finished."""
    _queues_declare()
    now = timezone.now()
    expired = _dead_claims_release(now=now, lease=lease)
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
        requeued += batches_enqueue(digest_id=digest_id, priority=RECOVERED_PRIORITY)
        finished += digest_finish_if_done(digest_id=digest_id)
    return {
        "expired": expired,
        "resnapshot": len(resnapshot),
        "requeued": requeued,
        "finished": finished,
    }


def _dead_claims_release(*, now: datetime, lease: timedelta) -> int:
    """Put the rows of every claim nobody holds any more back to pending; returns how many."""
    sending = Delivery.objects.filter(state=Row.SENDING)
    held = dict(sending.values_list("claimed_by").annotate(since=Min("claimed_at")))
    if not held:
        return 0
    dead = claims.claims_dead(held) or set()
    dead |= {token for token, since in held.items() if since is not None and since < now - lease}
    if not dead:
        return 0
    stale = sending.filter(claimed_by__in=dead)
    # The worker may have sent the lowest rows of each claim before it died (on the wire, or
    # their sent mark was: record.unrecorded_per_connection): count it on those rows, so a reader
    # who gets the digest twice is found in the ledger (and on the digest's admin page). The
    # claim's other rows had not been tried.
    lowest = record.unrecorded_per_connection(connection.vendor)
    on_the_wire = [
        pk
        for token in dead
        for pk in stale.filter(claimed_by=token)
        .order_by("pk")
        .values_list("pk", flat=True)[:lowest]
    ]
    stale.filter(pk__in=on_the_wire).update(
        expired_claims=F("expired_claims") + 1,
        last_error="The worker sending this died; sent again (the reader may have it twice).",
    )
    # A dead worker may also have taken other blocks' tasks without starting them; their
    # markers would hold those blocks back until the broker hands the tasks out again (15 min).
    # Cleared, every owed block is queued again below, ahead of the digest's other work.
    for digest_id in set(stale.values_list("digest_id", flat=True)):
        _queued_markers_clear(digest_id=digest_id)
    return stale.update(state=Row.PENDING, claimed_by="")


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
