"""The ledger's shared primitives: batch blocks, their queued markers, digest events, finishing.

The database is the source of truth and Redis only a transport (DESIGN.md §2): every promise
in this package holds however many tasks Redis loses or repeats.
- A digest is claimed for sending by one conditional UPDATE (dispatch.py); a second beat or click
  finds nothing.
- Its audience becomes Delivery rows in one INSERT ... SELECT, at most one per reader
  (snapshot.py).
- Fixed blocks of those rows are queued as batch tasks (fanout.py); a batch (batch.py) claims its
  pending rows by conditional UPDATE, so two copies of a batch task send each message once.
- The reconciler (reconciler.py) puts rows whose worker died back to pending, re-enqueues work
  whose task was lost, and marks a digest sent only when no row is pending or sending.
Every stage imports what it shares from here, so no stage imports back up the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from newsletters.models import Delivery, Digest, DigestEvent

State = Digest.State
Row = Delivery.State

# Rows per batch task, claimed CLAIM_SIZE at a time (what a dead worker holds per process). A
# batch's fixed cost (the task, its keeper, the digest loaded, its release and finish check) is
# paid per block: blocks of 1,000 rather than 200 cut the worker's CPU per message by a fifth on
# PostgreSQL (docs/performance.md). A batch stops after BATCH_SECONDS and queues the rest of its
# block again, so a slow send rate never makes a block outlive its task's time limit.
BATCH_SIZE = 1000
CLAIM_SIZE = 200
BATCH_SECONDS = 60.0
# Longer than a batch may run (its task's time limit), so only a dead worker's rows expire.
LEASE = timedelta(minutes=10)
# A queued-batch marker outlives the broker's visibility timeout (15 min), after which Redis
# would hand an unacknowledged task out again anyway.
QUEUED_MARKER_SECONDS = 20 * 60


@dataclass(frozen=True)
class BatchRange:
    """One fixed block of a digest's ledger: the rows with first_id <= id <= last_id."""

    digest_id: int
    first_id: int
    last_id: int


def queued_key(batch: BatchRange) -> str:
    return f"newsdesk:batch-queued:{batch.digest_id}:{batch.first_id}"


def digest_event(digest_id: int, action: str, *, by: User | None = None, detail: str = "") -> None:
    DigestEvent.objects.create(digest_id=digest_id, action=action, by=by, detail=detail[:300])


# The states a digest still owes (not yet tried, or being tried), as a range: nothing else sorts
# between them (tests/newsletters/test_ledger_owed.py).
OWED = (Row.PENDING, Row.SENDING)


def digest_owes_anything(*, digest_id: int) -> bool:
    """Whether any of the digest's rows is pending or sending.

    Asked of the (digest, state) index in its order, from its first owed entry: it stops at the
    first live one. Asked as EXISTS of `state IN (…)`, PostgreSQL planned a sequential scan (its
    statistics say most rows are owed), which read every row already sent before the first owed
    one: at a million readers, tens of ms for each of a send's thousand batch ends.
    """
    owed = Delivery.objects.filter(digest_id=digest_id, state__range=OWED)
    return owed.order_by("state").values_list("state", flat=True).first() is not None


def digest_finish_if_done(*, digest_id: int) -> bool:
    """Mark a sending digest sent once nothing is pending or sending; True if it was marked."""
    if digest_owes_anything(digest_id=digest_id):
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
