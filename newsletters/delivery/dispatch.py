"""Dispatch: claim the digests whose time has come (scheduled → sending) and start them."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from newsletters.delivery import snapshot
from newsletters.delivery.ledger import State, digest_event
from newsletters.models import Digest
from operations.logcontext import log_context


def digests_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled digest whose send_at has come; returns the ids started here."""
    moment = now or timezone.now()
    due = Digest.objects.filter(state=State.SCHEDULED, send_at__lte=moment).values_list(
        "pk", flat=True
    )
    started = []
    for digest_id in list(due[:100]):
        with log_context(digest_id=digest_id):  # what its start logs names it
            if digest_start(digest_id=digest_id):
                started.append(digest_id)
    return started


def digest_start(*, digest_id: int) -> bool:
    """Claim a due digest (scheduled → sending), freeze its render, snapshot, fan out."""
    claimed = Digest.objects.filter(pk=digest_id, state=State.SCHEDULED).update(
        state=State.SENDING, updated_at=timezone.now()
    )
    if not claimed:
        return False  # another beat, worker or click got there first
    digest_event(digest_id, "started")
    snapshot.digest_snapshot(digest_id=digest_id)
    return True
