"""What a batch does with a message the server did not take: retry it, fail it, or halt.

A 4xx is retried later with a doubling, jittered wait, up to MAX_ATTEMPTS tries; a 5xx (or the
last try) fails the row, and a hard bounce suppresses the address. An answer that is not the
reader's fault — the server down, our account refused — halts every batch for that server for
DELIVERY_HALT_SECONDS (a Redis key the batches look at first), without counting an attempt, and
pauses the digest when a person must act.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Literal

import redis
from django.conf import settings
from django.utils import timezone

from mailinglist.models import Suppression
from mailinglist.subscriptions import suppression_add
from newsletters.delivery import claimed, throttle
from newsletters.delivery.ledger import digest_event, publisher_notify
from newsletters.models import Delivery, Digest
from operations import transport
from operations.redis_client import redis_client

logger = logging.getLogger(__name__)
State = Digest.State
Row = Delivery.State

MAX_ATTEMPTS = 8
# The first retry waits settings.DELIVERY_RETRY_BASE_SECONDS; each further one twice as long.
RETRY_MAX_SECONDS = 3600


class Halted(Exception):
    """The server's answer stops the batch: not the reader's fault, nothing counted."""

    def __init__(self, outcome: transport.Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def retry_at(attempts: int) -> datetime:
    """When a message deferred `attempts` times is tried again: doubling, jittered ±20%."""
    base = settings.DELIVERY_RETRY_BASE_SECONDS
    delay = min(RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return timezone.now() + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311


def failure_record(
    *, row: claimed.ClaimedRow, to: str, outcome: transport.Outcome
) -> Literal["failed", "retried"]:
    """Write a refused message's outcome on its row; raises Halted if the batch must stop."""
    rows = Delivery.objects.filter(pk=row.pk, claimed_by=row.claimed_by, state=Row.SENDING)
    if outcome.halt:
        rows.update(
            state=Row.PENDING,
            last_error=outcome.error,
            next_attempt_at=timezone.now() + timedelta(seconds=settings.DELIVERY_HALT_SECONDS),
            claimed_by="",
        )
        raise Halted(outcome)
    attempts = row.attempts + 1
    if outcome.permanent or attempts >= MAX_ATTEMPTS:
        rows.update(state=Row.FAILED, attempts=attempts, last_error=outcome.error, claimed_by="")
        if outcome.bounce:
            suppression_add(
                email=to,
                reason=Suppression.Reason.BOUNCED,
                note=outcome.error[:200],
            )
        return "failed"
    rows.update(
        state=Row.PENDING,
        attempts=attempts,
        last_error=outcome.error,
        next_attempt_at=retry_at(attempts),
        claimed_by="",
    )
    return "retried"


def _halt_key() -> str:
    return f"newsdesk:halted:{throttle.throttle_backend_key()}"


def halted_until() -> str | None:
    """Why batches for this server are held, while they are; None when they may send."""
    try:
        value = redis_client().get(_halt_key())
    except redis.RedisError:
        return None  # the throttle finds Redis down too, and stops the batch cleanly
    return value.decode() if isinstance(value, bytes) else value


def halt(*, digest_id: int, outcome: transport.Outcome) -> datetime:
    """Hold every batch for this server for a while; pause the digest if a person must act."""
    logger.warning("Sending of digest %s halted: %s", digest_id, outcome.error)
    redis_client().set(_halt_key(), outcome.error[:200], ex=settings.DELIVERY_HALT_SECONDS)
    if outcome.pause and Digest.objects.filter(pk=digest_id, state=State.SENDING).update(
        state=State.PAUSED, updated_at=timezone.now()
    ):
        digest_event(digest_id, "paused", detail=f"Paused automatically: {outcome.error}")
        publisher_notify(digest_id=digest_id, action="paused")
    return timezone.now() + timedelta(seconds=settings.DELIVERY_HALT_SECONDS)
