"""One batch of a digest's ledger: claim the rows, re-check each reader, send, record.

A batch claims its block's due pending rows CLAIM_SIZE ids at a time as it reaches them, each
part loaded by one conditional UPDATE (claimed.py: two copies of a batch task send each message
once), under a token that a keeper (claims.py) keeps alive in Redis while the batch runs. It
works through each part a group at a time: the digest's state and whether each reader may still
be mailed (mailinglist.audience: subscribed, not pausing, not suppressed) are checked again
right before the group goes out, every message is sent over the process's one connection, and
each outcome is written the moment the server gives it (record.py; a refusal: failures.py). So
at any instant at most one message per connection has been accepted without being recorded — the
one on the wire — or two on PostgreSQL, where a sent mark's reply is read only after the next
message has left; they are the lowest rows the claim still holds, which the reconciler marks as
possible duplicates when it takes back a dead worker's rows (reconciler.py). A batch that has
sent for BATCH_SECONDS (a slow send rate) stops between groups, releases the rest and queues its
block again.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from mailinglist import audience
from newsletters import rendering
from newsletters.delivery import (
    claimed,
    claims,
    commit_mode,
    domains,
    failures,
    messages,
    pacing,
    record,
    throttle,
)
from newsletters.delivery.failures import MAX_ATTEMPTS, retry_at
from newsletters.delivery.ledger import (
    BATCH_SECONDS,
    CLAIM_SIZE,
    BatchRange,
    digest_finish_if_done,
    queued_key,
)
from newsletters.models import Delivery, Digest
from operations import transport
from operations.driver_statements import driver_fetch
from operations.redis_client import redis_client

logger = logging.getLogger(__name__)
State = Digest.State
Row = Delivery.State

# Re-check subscriptions (and the digest's pause or cancel) this many rows at a time, just before
# sending them: an unsubscribe that commits mid-batch is honoured within one group, a pause within
# one group per worker process. Each group costs two queries (round trips on PostgreSQL): 50
# rather than 20 made the send 6% cheaper a message there (docs/performance.md, eighth session).
GROUP_SIZE = 50


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    released: int = 0
    halted: str = ""
    held: int = 0  # put back by their domain group's pacing, no attempt counted
    out_of_time: bool = False  # stopped after BATCH_SECONDS; the rest was queued again


class _ClaimLost(Exception):
    """The claim's key could not be refreshed: another worker may now own these rows."""


def batch_send(*, digest_id: int, first_id: int, last_id: int, worker: str = "") -> BatchResult:
    """Send the due pending rows in [first_id, last_id] of a sending digest, recording each."""
    # The block is no longer queued once a worker has it: whatever happens to this run (a
    # crash, the database or Redis gone), the reconciler may queue it again if rows of it are
    # still, or again, owed; a copy queued meanwhile finds the rows claimed and does nothing.
    with contextlib.suppress(redis.RedisError):
        redis_client().delete(queued_key(BatchRange(digest_id, first_id, last_id)))
    return _batch_run(digest_id=digest_id, first_id=first_id, last_id=last_id, worker=worker)


def _batch_run(*, digest_id: int, first_id: int, last_id: int, worker: str) -> BatchResult:
    result = BatchResult()
    digest = Digest.objects.select_related("mailing_list").filter(pk=digest_id).first()
    if digest is None or digest.state != State.SENDING:
        return result  # paused or cancelled: the rows wait (or were skipped); resume re-queues
    if failures.halted_until() is not None:
        return result  # the server is down or refusing us: the reconciler re-queues later
    token = f"{worker or 'worker'}:{uuid.uuid4().hex[:12]}"
    with claims.ClaimKeeper(token) as keeper, commit_mode.ledger_commits_unflushed():
        _claimed_send(
            digest=digest, first_id=first_id, last_id=last_id, keeper=keeper, result=result
        )
    digest_finish_if_done(digest_id=digest_id)
    return result


def _claimed_send(
    *, digest: Digest, first_id: int, last_id: int, keeper: claims.ClaimKeeper, result: BatchResult
) -> None:
    digest_id, deadline = digest.pk, time.monotonic() + BATCH_SECONDS
    parts = _parts_claim(
        digest_id=digest_id, first_id=first_id, last_id=last_id, keeper=keeper, deadline=deadline
    )
    first = next(parts, None)
    if first is None:
        return  # nothing of the block is due: no template, no marks, no release
    # What is still the batch's when it stops (the block's rows by primary key, then the claim).
    mine = Delivery.objects.filter(
        digest_id=digest_id,
        pk__gte=first_id,
        pk__lte=last_id,
        claimed_by=keeper.token,
        state=Row.SENDING,
    )
    pacer = pacing.BatchPacer()
    with record.marking() as marks:
        run = _Run(digest, messages.digest_template(digest), keeper, result, pacer, marks, deadline)
        _groups_send(run, parts=itertools.chain([first], parts), mine=mine)
    result.sent += marks.sent
    if result.out_of_time or pacer.soonest is not None:
        pacing.block_requeue(
            batch=BatchRange(digest_id, first_id, last_id),
            countdown=0 if result.out_of_time else (pacer.soonest or 0),
        )


def _parts_claim(
    *, digest_id: int, first_id: int, last_id: int, keeper: claims.ClaimKeeper, deadline: float
) -> Iterator[list[claimed.ClaimedRow]]:
    """The block's due pending rows, claimed CLAIM_SIZE ids at a time as the batch reaches them.

    A block is large so that its task's fixed cost is paid rarely; claimed a part at a time, a
    worker that dies holds at most CLAIM_SIZE rows, which the reconciler gives back. Parts with
    nothing due are passed over; none is claimed once the batch's time is up.
    """
    begun = False
    for low in range(first_id, last_id + 1, CLAIM_SIZE):
        if begun and time.monotonic() > deadline:
            raise _OutOfTime
        rows = claimed.rows_claim(
            digest_id=digest_id,
            first_id=low,
            last_id=min(low + CLAIM_SIZE - 1, last_id),
            token=keeper.token,
            now=timezone.now(),
        )
        if rows:
            begun = True
            yield rows


@dataclass(frozen=True)
class _Run:
    """What every step of one batch's sending shares."""

    digest: Digest
    template: messages.MessageTemplate
    keeper: claims.ClaimKeeper
    result: BatchResult
    pacer: pacing.BatchPacer
    marks: record.SentMarks
    deadline: float  # time.monotonic() after which the batch stops between two groups


class _OutOfTime(Exception):
    """The batch's BATCH_SECONDS are spent: the rest of its block is queued again."""


def _groups_send(
    run: _Run, *, parts: Iterator[list[claimed.ClaimedRow]], mine: QuerySet[Delivery]
) -> None:
    """Send the claimed parts group by group, then release whatever is still the batch's."""
    digest_id, keeper, result = run.digest.pk, run.keeper, run.result
    wait_until: datetime | None = None
    try:
        _parts_send(run, parts=parts)
    except throttle.ThrottleUnavailable:
        # Redis is down: stop; the rows go back to pending and are retried later.
        logger.warning("Throttle unavailable (REDIS_URL); batch of digest %s stopped", digest_id)
    except _ClaimLost:
        logger.warning(
            "Claim %s lost (REDIS_URL); batch of digest %s stopped", keeper.token, digest_id
        )
    except failures.Halted as halted:
        result.halted = halted.outcome.error
        wait_until = failures.halt(digest_id=digest_id, outcome=halted.outcome)
    finally:
        if Digest.objects.filter(pk=digest_id, state=State.CANCELLED).exists():
            result.released = mine.update(
                state=Row.SKIPPED, last_error="Digest cancelled.", claimed_by=""
            )
        else:
            result.released = mine.update(
                state=Row.PENDING, claimed_by="", next_attempt_at=wait_until
            )


def _parts_send(run: _Run, *, parts: Iterator[list[claimed.ClaimedRow]]) -> None:
    """Send the parts group by group, each group's last message with the next one's first envelope.

    A group's last admitted message is handed over once the next group is checked and its first
    message admitted: one round trip a message across the whole batch, as within a group. When
    the parts are all sent or the batch's time is up, it goes out alone. A pause, a cancel or an
    error found in between stops it unsent (its open envelope must not become an empty message:
    the connection is closed), and the release puts its row back to pending.
    """
    last: _Ready | None = None
    try:
        for rows in _groups(run, parts=parts):
            if _digest_state(run.digest.pk) != State.SENDING:
                transport.pipeline_abandon()  # paused or cancelled: nothing more leaves
                return
            last = _group_send(run, rows=rows, last=last)
    except _OutOfTime:
        run.result.out_of_time = True
    except BaseException:
        transport.pipeline_abandon()
        raise
    try:
        if last is not None:
            _ready_send(run, ready=last, then=None)
    finally:
        transport.pipeline_abandon()  # a no-op once it was sent


def _groups(
    run: _Run, *, parts: Iterator[list[claimed.ClaimedRow]]
) -> Iterator[list[claimed.ClaimedRow]]:
    for rows in parts:
        for start in range(0, len(rows), GROUP_SIZE):
            # A part's first group is never held back: the first part's is the one group a batch
            # always sends, however slow the rate; a later part was claimed in time.
            if start and time.monotonic() > run.deadline:
                raise _OutOfTime
            yield rows[start : start + GROUP_SIZE]


@dataclass(frozen=True)
class _Ready:
    """A message built and admitted (re-checked, paced), about to be handed to the server."""

    row: claimed.ClaimedRow
    to: str
    domain_group: domains.DomainGroup
    sender: str
    raw: bytes
    message_id: str


def _group_send(run: _Run, *, rows: list[claimed.ClaimedRow], last: _Ready | None) -> _Ready | None:
    """Send `last` and the group's admitted rows but its last one, which it returns unsent.

    A message is handed over once the next one is built and admitted, so the transport can open
    the next envelope in the same write as this message's content (operations/transport/smtp.py):
    one round trip a message. `last`, the previous group's last message, goes out with this
    group's first (see _parts_send). Each outcome's write leaves before the next content is sent
    (on PostgreSQL its reply is read after: record.SentMarks).
    """
    digest, result = run.digest, run.result
    allowed = _still_allowed(digest=digest, rows=rows)
    ready = last
    for row in rows:
        reader = row.subscriber
        if reader is None or row.subscriber_id not in allowed:
            Delivery.objects.filter(pk=row.pk, claimed_by=row.claimed_by).update(
                state=Row.SKIPPED,
                last_error=audience.reader_skip_reason(
                    mailing_list_id=digest.mailing_list_id, subscriber_id=row.subscriber_id
                ),
                claimed_by="",
            )
            result.skipped += 1
            continue
        if run.keeper.lost:
            raise _ClaimLost
        domain_group = domains.domain_group(reader.email)
        if run.pacer.held_back(row=row, group=domain_group):
            result.held += 1  # its group has no token for it now: back to pending, uncounted
            continue
        admitted = _ready_build(
            template=run.template, row=row, reader=reader, domain_group=domain_group
        )
        _throttle_wait()
        if ready is not None:
            _ready_send(run, ready=ready, then=admitted)
        ready = admitted
    return ready


def _ready_build(
    *,
    template: messages.MessageTemplate,
    row: claimed.ClaimedRow,
    reader: claimed.Reader,
    domain_group: domains.DomainGroup,
) -> _Ready:
    recipient = messages.recipient_values(template=template, subscriber=reader)
    return _Ready(
        row=row,
        to=reader.email,
        domain_group=domain_group,
        sender=recipient.envelope_from,
        raw=messages.message_bytes(template=template, recipient=recipient),
        message_id=recipient.values[rendering.SLOT_MESSAGE_ID].decode(),
    )


def _ready_send(run: _Run, *, ready: _Ready, then: _Ready | None) -> None:
    row, result = ready.row, run.result
    outcome = transport.message_send(
        from_address=ready.sender,
        to=ready.to,
        raw=ready.raw,
        # Echoed back by ESP tracking webhooks, which find the ledger row by it.
        metadata={"digest": str(run.digest.pk), "delivery": str(row.pk)},
        then=None if then is None else (then.sender, then.to),
    )
    # The previous message's mark left before this content did; its reply came back meanwhile.
    run.marks.settle()
    if outcome.slow_down:
        throttle.throttle_slow_down(backend_key=throttle.throttle_backend_key())
    if outcome.domain_slow_down:
        last = row.attempts + 1 >= MAX_ATTEMPTS
        later = None if last else retry_at(row.attempts + 1)
        if run.pacer.deferred(row=row, group=ready.domain_group, outcome=outcome, retry_at=later):
            result.retried += 1
        else:
            result.failed += 1
        return
    if outcome.ok:
        run.marks.mark(row_id=row.pk, claimed_by=row.claimed_by, message_id=ready.message_id)
    else:
        if failures.failure_record(row=row, to=ready.to, outcome=outcome) == "failed":
            result.failed += 1
        else:
            result.retried += 1


def _still_allowed(*, digest: Digest, rows: Sequence[claimed.ClaimedRow | Delivery]) -> set[int]:
    """Readers of `rows` who may still be mailed on the digest's list: one query per group."""
    return audience.readers_still_mailable(
        mailing_list_id=digest.mailing_list_id, subscriber_ids=[row.subscriber_id for row in rows]
    )


_DIGEST_STATE = f"SELECT state FROM {Digest._meta.db_table} WHERE id = {{}}"  # noqa: S608
_DIGEST_STATE_POSTGRESQL, _DIGEST_STATE_SQLITE = (
    _DIGEST_STATE.format("%s"),
    _DIGEST_STATE.format("?"),
)


def _digest_state(digest_id: int) -> str | None:
    # Checked before every group (pause and cancel take effect within one): a statement
    # prepared once per connection.
    found = driver_fetch(
        connection,
        postgresql=_DIGEST_STATE_POSTGRESQL,
        sqlite=_DIGEST_STATE_SQLITE,
        params=[digest_id],
    )
    return found[0][0] if found else None


def _throttle_wait() -> None:
    # Waiting here is the throttle's whole point (SEND_RATE is shared by all workers); the
    # waits are a token's worth, fractions of a second.
    rate = settings.SEND_RATE
    if rate <= 0:
        return  # unlimited: no bucket to look up
    bucket = throttle.throttle_backend_key()
    while (wait := throttle.throttle_take(backend_key=bucket, rate=rate)) > 0:
        time.sleep(wait)
