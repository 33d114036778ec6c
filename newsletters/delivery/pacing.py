"""Per-domain pacing: each receiving-domain group's own rate and slow-down, shared by all workers.

Gmail, Outlook and Yahoo each take mail from one sender only so fast, and say so with a 421 or a
4.7.x at RCPT TO. Each group (domains.py) has a token bucket of its own in Redis (throttle.py's
scripts, keyed by the sending backend and the group), on top of the global SEND_RATE bucket: a
message takes a token from both. A group with a rate in DOMAIN_SEND_RATES is always held to it; a
group without one has no limit of its own until its domain asks us to slow down, and then its
cut starts from SEND_RATE, or from UNKNOWN_BASE_RATE when SEND_RATE is unlimited too.

A batch never waits long for one group (`BatchPacer`): a row whose group has no token for it is
put back to pending, without counting an attempt, so the other groups' rows in the batch keep
their rate; the batch then queues its block again for when the first of those rows is due
(`block_requeue`), so a group held to its own rate keeps that rate rather than waiting for the
reconciler's next tick (every 30 s), which would cut it to a few messages a tick on a small list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from newsletters.delivery import throttle
from newsletters.delivery.claimed import ClaimedRow
from newsletters.delivery.domains import DOMAIN_GROUPS, DomainGroup
from newsletters.delivery.fanout import RECOVERED_PRIORITY
from newsletters.delivery.ledger import QUEUED_MARKER_SECONDS, BatchRange, queued_key
from newsletters.models import Delivery
from operations.redis_client import redis_client
from operations.transport import Outcome

Row = Delivery.State

# A group may hold one batch up for this long in all (sleeping for its tokens); past that its
# rows go back to pending, so that a slow group costs the other groups at most this per batch.
HOLD_BACK_SECONDS = 0.5
# A group with no rate of its own, told to slow down while SEND_RATE is unlimited, has no known
# rate to cut: the rate it was getting is not measured anywhere. 10/s is a pace every provider
# takes from a sender with no reputation problem, and halving from it reaches FLOOR_RATE within
# a few cuts if the domain keeps refusing.
UNKNOWN_BASE_RATE = 10.0
# Groups without a rate of their own ask Redis whether a slow-down is in force at most this
# often per process: with nothing configured, a send does not pay a round trip per message, and
# another worker's slow-down reaches this one within a second (holds last DELIVERY_HALT_SECONDS).
PENALTY_CHECK_SECONDS = 1.0
# A block queued again by its own batch runs no sooner than this: its held rows are due.
MIN_REQUEUE_SECONDS = 0.05

_not_slowed_until: dict[tuple[str, str], float] = {}


@dataclass(frozen=True)
class GroupPace:
    """One group's pacing as every worker sees it now."""

    group: DomainGroup
    configured: float  # its own rate in DOMAIN_SEND_RATES; 0 = none beyond SEND_RATE
    rate: float  # messages per second it may send now; 0 = no limit of its own
    is_slowed: bool
    reason: str  # the reply that slowed it down, e.g. "421 4.7.0"
    recovering_seconds: float


def pacing_take(*, group: DomainGroup) -> float:
    """Take a token from `group`'s bucket if one is there now: 0.0, or the seconds until one is.

    Never sleeps and takes nothing when it returns a wait. Raises ThrottleUnavailable.
    """
    rate, own = _base_rate(group)
    key = _bucket(group)
    if own:
        return throttle.throttle_take(backend_key=key, rate=rate)
    memo = (key, str(settings.REDIS_URL))
    if _not_slowed_until.get(memo, 0.0) > time.monotonic():
        return 0.0
    wait = throttle.throttle_take_if_slowed(backend_key=key, rate=rate)
    if wait is None:
        _not_slowed_until[memo] = time.monotonic() + PENALTY_CHECK_SECONDS
        return 0.0
    return wait


def pacing_slow_down(*, group: DomainGroup, outcome: Outcome) -> float:
    """Cut `group`'s rate for every worker after its domain's 421/4.7.x; returns its new wait.

    The wait is the seconds between two of the group's messages at the cut rate. The cut holds
    DELIVERY_HALT_SECONDS, as a server's halt does, then the rate doubles back each such period.
    """
    rate, _ = _base_rate(group)
    key = _bucket(group)
    factor = throttle.throttle_slow_down(
        backend_key=key, hold_seconds=settings.DELIVERY_HALT_SECONDS, reason=_reason(outcome)
    )
    _not_slowed_until.pop((key, str(settings.REDIS_URL)), None)
    return 1.0 / max(min(rate, throttle.FLOOR_RATE), rate * factor)


def pacing_states() -> list[GroupPace]:
    """Every group's rate now and whether it is slowed down, in one Redis round trip.

    Raises ThrottleUnavailable if Redis is down.
    """
    bases = {group: _base_rate(group) for group in DOMAIN_GROUPS}
    states = throttle.throttle_states(rates={_bucket(g): rate for g, (rate, _) in bases.items()})
    paces = []
    for group, (_, own) in bases.items():
        state = states[_bucket(group)]
        paces.append(
            GroupPace(
                group=group,
                configured=_own_rate(group),
                rate=state.rate if own or state.is_slowed else 0.0,
                is_slowed=state.is_slowed,
                reason=state.reason,
                recovering_seconds=state.recovering_seconds,
            )
        )
    return paces


def block_requeue(*, batch: BatchRange, countdown: float) -> bool:
    """Queue `batch` again to run in `countdown` seconds, unless its task is already queued.

    Seconds, never minutes: a short countdown is held by a worker until it is due, well inside
    the broker's visibility timeout (settings: 900 s). The queued marker keeps it one task
    however many batches and reconciler ticks ask.
    """
    from newsletters.tasks import send_batch

    if not redis_client().set(queued_key(batch), "1", nx=True, ex=QUEUED_MARKER_SECONDS):
        return False
    send_batch.apply_async(
        (batch.digest_id, batch.first_id, batch.last_id),
        countdown=max(countdown, MIN_REQUEUE_SECONDS),
        priority=RECOVERED_PRIORITY,
    )
    return True


def note_prefix(group: DomainGroup) -> str:
    """How the ledger notes of rows a group put back or deferred begin (progress counts them)."""
    return f"{group}: "


class BatchPacer:
    """One batch's dealings with the groups: a row goes now (after a short sleep) or back."""

    def __init__(self) -> None:
        self.slept: dict[DomainGroup, float] = {}
        self.refused: dict[DomainGroup, float] = {}
        # Seconds until the first row this batch held back is due again (None: none held).
        self.soonest: float | None = None

    def admit(self, *, group: DomainGroup) -> float:
        """0.0 once a token of `group` is taken; else the seconds until it has one (none taken)."""
        if group in self.refused:
            # Its domain said 421 in this batch: its other rows here wait for a later batch
            # rather than each collecting a refusal (and an attempt) moments later.
            return self.refused[group]
        while (wait := pacing_take(group=group)) > 0:
            slept = self.slept.get(group, 0.0)
            if slept + wait > HOLD_BACK_SECONDS:
                return wait
            time.sleep(wait)
            self.slept[group] = slept + wait
        return 0.0

    def held_back(self, *, row: ClaimedRow, group: DomainGroup) -> bool:
        """True if `group` has no token for the row now: it is back to pending, uncounted."""
        wait = self.admit(group=group)
        if wait <= 0:
            return False
        # Nothing was sent and it is not the reader's fault: no attempt counted. The row is
        # due again after `wait`, when the batch's block is queued again (block_requeue).
        self.soonest = wait if self.soonest is None else min(self.soonest, wait)
        Delivery.objects.filter(pk=row.pk, claimed_by=row.claimed_by, state=Row.SENDING).update(
            state=Row.PENDING,
            claimed_by="",
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
            last_error=f"{note_prefix(group)}held back by its pacing for {wait:.1f} s "
            "(not counted as an attempt).",
        )
        return True

    def deferred(
        self, *, row: ClaimedRow, group: DomainGroup, outcome: Outcome, retry_at: datetime | None
    ) -> bool:
        """The row's domain said 421/4.7.x: cut the group for every worker and record the try.

        The attempt counts, as any 4xx's does, so a domain that refuses for good ends in
        `failed`: `retry_at` None means this was the row's last attempt. Otherwise the row waits
        for the later of `retry_at` and the group's new pace. True if it will be tried again.
        """
        self.refused[group] = wait = pacing_slow_down(group=group, outcome=outcome)
        rows = Delivery.objects.filter(pk=row.pk, claimed_by=row.claimed_by, state=Row.SENDING)
        note = f"{note_prefix(group)}{outcome.error}"
        if retry_at is None:
            rows.update(
                state=Row.FAILED, attempts=F("attempts") + 1, last_error=note, claimed_by=""
            )
            return False
        rows.update(
            state=Row.PENDING,
            attempts=F("attempts") + 1,
            last_error=note,
            next_attempt_at=max(retry_at, timezone.now() + timedelta(seconds=wait)),
            claimed_by="",
        )
        return True


def _own_rate(group: DomainGroup) -> float:
    return float(settings.DOMAIN_SEND_RATES.get(group, 0.0))


def _base_rate(group: DomainGroup) -> tuple[float, bool]:
    """The rate a slow-down cuts, and whether the group is held to it even when not slowed."""
    own = _own_rate(group)
    if own > 0:
        return own, True
    send_rate = float(settings.SEND_RATE)
    return (send_rate if send_rate > 0 else UNKNOWN_BASE_RATE), False


def _bucket(group: DomainGroup) -> str:
    return f"{throttle.throttle_backend_key()}:domain:{group}"


def _reason(outcome: Outcome) -> str:
    # "421 4.7.0 Try again later" → "421 4.7.0": the code and status say it; the text may not fit.
    code, _, rest = outcome.error.partition(" ")
    status = rest.split(" ", 1)[0]
    return f"{code} {status}" if status[:2] in {"4.", "5."} else code
