"""How a stored signup reaches a worker: the row is the hand-off, a kick wakes a drain.

The signup POST is the busiest public write, and publishing a Celery task from it cost more than
the rest of the view together (the task envelope, kombu's per-publish Redis client, Celery's
configuration look-ups: 2.5 of a 5.8 ms request). So the request publishes nothing per signup,
and talks to Redis once:

- The request (signup_request_store) takes the per-IP counter's round trip, which also SETs the
  kick key NX (protection.ip_limit_hit), then INSERTs its row. Only the request that found the
  key absent publishes a `drain_signups` task, once its row is in; every other finds a drain
  already asked for.
- A drain (signup_requests_drain) first deletes the key, then claims and applies unprocessed
  rows until none is left, and looks once more when SETTLE_SECONDS have passed since the delete.
- Why no row is missed: a request that found the key set looked before the owning drain deleted
  it. If its INSERT was committed within SETTLE_SECONDS of looking, it was committed before the
  drain's last look; if it took longer (a stalled database), the request kicks again itself
  after its commit, as it does whenever its row commits with an outer transaction. Both spans
  are measured on one host's monotonic clock each, so the web and worker clocks need not agree.
- Each row is claimed in its own transaction: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so
  two drains take different rows and never the same one; on SQLite the transaction takes the
  database's write lock at BEGIN (transaction_mode IMMEDIATE), so drains take turns and the
  second finds the row processed.
- What a kick can lose (Redis flushed or restarted, the publish failing after the SET, the
  worker's queue purged) leaves a row unprocessed and the key at most KICK_SECONDS old: the next
  signup's kick or the sweep (a beat tick every 30 s, signup_requests_sweep) drains it. A stored
  signup is never lost, only later.

What it trades: a confirmation waits for one more hop (the drain task, then the mail task) than
before; a lost kick delays mail until the next signup or sweep (before, a 2-minute requeue); the
rate limit is counted after validation rather than before (every POST is still counted and the
answer is the same); each drain holds its worker SETTLE_SECONDS longer. docs/performance.md has
the figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from mailinglist import protection
from mailinglist.models import SignupRequest
from mailinglist.signup_insert import signup_request_insert
from mailinglist.subscriptions import FORM_VERSION, RequestMeta, signup_request_apply
from operations.redis_client import redis_client

logger = logging.getLogger(__name__)

# Under "signup:" beside the other signup keys (the tests' clean-up deletes them by that prefix).
KICK_NAME = "signup:drain-kick"
# How long a kick stands for a drain that has not started: past it the next signup publishes
# another, so a kick whose task was lost delays signups by at most this much (given traffic).
KICK_SECONDS = 5
# A drain hands over to a fresh task after this long, well inside the task's time limits, so a
# backlog of thousands never makes one task outlive them.
DRAIN_BUDGET_SECONDS = 60.0
SWEEP_INTERVAL_SECONDS = 30.0
# A signup's look at the kick key and its INSERT's commit are a millisecond apart; a request for
# which they were further apart than this kicks again itself, so a drain waits this long after
# deleting the key before its last look (see the module's docstring).
SETTLE_SECONDS = 0.2
# Processed requests are kept a week (an operator can see what came in); the consent event
# keeps what matters.
PROCESSED_KEPT = timedelta(days=7)


def signup_request_submit(
    *,
    email: str,
    name: str,
    list_slugs: list[str],
    source: str,
    meta: RequestMeta,
    form_version: str = FORM_VERSION,
) -> None:
    """Store a validated signup, counted against its IP's limit, for a worker to apply.

    Costs the same whatever the state of the address — one INSERT and one Redis round trip —
    so that the answer (and its timing) says nothing about who is subscribed. No task is
    published per signup (see this module's docstring). Raises protection.RateLimited, storing
    nothing, past the per-IP limit.
    """
    signup_request_store(
        email=email,
        name=name,
        list_slugs=list_slugs,
        source=source,
        ip=meta.ip,
        user_agent=meta.user_agent[:300],
        source_url=meta.source_url[:500],
        form_version=form_version,
    )


def signup_request_store(*, ip: str | None, **values: Any) -> None:
    """Store a validated signup, counted against its IP's limit, and make sure a drain runs.

    Raises protection.RateLimited, storing nothing, past the limit.
    """
    looked_at = time.monotonic()
    kicked = protection.ip_limit_hit(
        ip=ip, claim_key=cache.make_key(KICK_NAME), claim_seconds=KICK_SECONDS
    )
    try:
        signup_request_insert(ip=ip, **values)
    finally:
        # Published even when the INSERT failed: signups that found this kick rely on its drain.
        # Robust: a drain that cannot be published is made good by the next kick or the sweep;
        # the reader still gets the answer, not a 500.
        if kicked:
            transaction.on_commit(_drain_publish, robust=True)
    if not kicked and (connection.in_atomic_block or time.monotonic() - looked_at > SETTLE_SECONDS):
        transaction.on_commit(signup_drain_kick, robust=True)


def signup_drain_kick() -> None:
    """Make sure a drain runs after this point: publish one unless one is asked for already."""
    if redis_client().set(cache.make_key(KICK_NAME), 1, nx=True, ex=KICK_SECONDS):
        _drain_publish()


def _drain_publish() -> None:
    from mailinglist.tasks import drain_signups

    drain_signups.delay()


def signup_requests_drain(*, budget_seconds: float = DRAIN_BUDGET_SECONDS) -> int:
    """Apply every unprocessed signup, oldest first; returns how many this call applied.

    A signup whose processing fails is logged and left for the next drain or the sweep, as a
    failed task was left for the requeue before; the others go on.
    """
    redis_client().delete(cache.make_key(KICK_NAME))  # from here on, a new signup kicks again
    deleted_at = time.monotonic()
    deadline = deleted_at + budget_seconds
    failed: list[int] = []
    applied, finished = _drain_until_empty(deadline=deadline, failed=failed)
    if finished:
        # The last look: a signup that found the key before the delete is committed by now, or
        # kicks again itself.
        time.sleep(max(0.0, deleted_at + SETTLE_SECONDS - time.monotonic()))
        more, _ = _drain_until_empty(deadline=deadline, failed=failed)
        applied += more
    return applied


def _drain_until_empty(*, deadline: float, failed: list[int]) -> tuple[int, bool]:
    """Apply rows until none is left: how many, and False when the time ran out first."""
    applied = 0
    while time.monotonic() < deadline:
        claimed = _signup_request_apply_next(skip=failed)
        if claimed is None:
            return applied, True
        request_id, ok = claimed
        if ok:
            applied += 1
        else:
            failed.append(request_id)
    signup_drain_kick()  # hand the rest to a fresh task
    return applied, False


def _signup_request_apply_next(*, skip: Collection[int]) -> tuple[int, bool] | None:
    """Claim the oldest unprocessed signup no other drain holds and apply it.

    Returns (its id, whether it was applied), or None when nothing is left to claim.
    """
    with transaction.atomic():
        request = (
            SignupRequest.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True)
            .exclude(pk__in=skip)
            .order_by("pk")
            .first()
        )
        if request is None:
            return None
        try:
            with transaction.atomic():  # a savepoint: a failure undoes this signup's work only
                signup_request_apply(request=request)
        except Exception:
            logger.exception("Signup request %s could not be applied; left for a retry", request.pk)
            return request.pk, False
        return request.pk, True


def signup_requests_sweep() -> int:
    """The safety net beat runs: drain what a lost kick left, forget week-old processed rows.

    Returns how many signups it applied.
    """
    SignupRequest.objects.filter(processed_at__lt=timezone.now() - PROCESSED_KEPT).delete()
    return signup_requests_drain()
