"""Controls on a digest that is going out: pause, resume, cancel, resend to the undelivered.

Each is a conditional UPDATE on the digest's state (so two editors cannot, say, resume a digest
twice) and leaves a DigestEvent saying who and when. Batches look at the state between groups of
rows, so a pause or cancel takes effect within one group.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from newsletters.delivery.fanout import batches_enqueue
from newsletters.delivery.ledger import digest_event
from newsletters.models import Delivery, Digest

State = Digest.State
Row = Delivery.State


class ControlRefused(Exception):
    """The digest is not in a state where this control applies."""


def digest_pause(*, digest_id: int, by: User | None = None) -> None:
    if not Digest.objects.filter(pk=digest_id, state=State.SENDING).update(state=State.PAUSED):
        raise ControlRefused("Only a digest that is sending can be paused.")
    digest_event(digest_id, "paused", by=by)


def digest_resume(*, digest_id: int, by: User | None = None) -> None:
    if not Digest.objects.filter(pk=digest_id, state=State.PAUSED).update(state=State.SENDING):
        raise ControlRefused("Only a paused digest can be resumed.")
    digest_event(digest_id, "resumed", by=by)
    transaction.on_commit(lambda: batches_enqueue(digest_id=digest_id))


def digest_cancel(*, digest_id: int, by: User | None = None) -> None:
    """Stop for good: what was not sent is skipped (rows a batch holds are skipped on release)."""
    cancellable = [State.SCHEDULED, State.SENDING, State.PAUSED]
    if not Digest.objects.filter(pk=digest_id, state__in=cancellable).update(state=State.CANCELLED):
        raise ControlRefused("Only a scheduled, sending or paused digest can be cancelled.")
    Delivery.objects.filter(digest_id=digest_id, state=Row.PENDING).update(
        state=Row.SKIPPED, last_error="Digest cancelled."
    )
    digest_event(digest_id, "cancelled", by=by)


def digest_resend_failed(*, digest_id: int, by: User | None = None) -> int:
    """Send again to readers whose delivery failed (after fixing the cause); returns how many."""
    with transaction.atomic():
        count = Delivery.objects.filter(digest_id=digest_id, state=Row.FAILED).update(
            state=Row.PENDING, attempts=0, next_attempt_at=None, last_error=""
        )
        if count:
            Digest.objects.filter(pk=digest_id, state__in=[State.SENT, State.SENDING]).update(
                state=State.SENDING
            )
            digest_event(digest_id, "resend_failed", by=by, detail=f"{count} readers")
            transaction.on_commit(lambda: batches_enqueue(digest_id=digest_id))
    return count
