"""Faults a production sees, on the production topology: two workers, one beat, a Redis of the
test's own, the test's database (PostgreSQL in CI's second pass) and an SMTP sink.

Nothing here plays beat: dispatch, recovery and finishing are the real beat's ticks at the
product's own intervals, so the times printed are the times an operator would see.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from newsletters.delivery import progress, record
from newsletters.delivery.ledger import BATCH_SIZE
from newsletters.models import Delivery, Digest
from tests.integration.cluster import Cluster, scheduled_digest, sent_count
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State
# Six blocks of BATCH_SIZE at SEND_RATE 40: every worker still holds a block when it is killed
# (with three, the second worker could have finished its last before its turn came).
READERS = 6 * BATCH_SIZE
RECOVERY_LIMIT = 120.0


def held_by(digest: Digest, worker: Worker) -> set[int]:
    """The rows `worker` holds now: what it may have sent without recording it."""
    return set(
        Delivery.objects.filter(
            digest=digest, state=Row.SENDING, claimed_by__startswith=f"{worker.name}:"
        ).values_list("pk", flat=True)
    )


def kill_and_recover(digest: Digest, worker: Worker, cluster: Cluster) -> tuple[set[int], float]:
    """SIGKILL `worker` mid-batch; return the rows it held and how long until they were sent."""
    wait_until(lambda: held_by(digest, worker), timeout=60)
    worker.kill()  # the whole process group: a host lost, nothing shuts down cleanly
    killed = time.monotonic()
    held = held_by(digest, worker)
    assert held, "the worker died holding no rows; the test proves nothing"

    def all_sent() -> bool:
        return not Delivery.objects.filter(pk__in=held).exclude(state=Row.SENT).exists()

    try:
        wait_until(all_sent, timeout=RECOVERY_LIMIT, interval=0.5)
    except AssertionError:
        pytest.fail(
            f"rows of the dead worker not sent within {RECOVERY_LIMIT:.0f} s\n{cluster.logs()}"
        )
    return held, time.monotonic() - killed


def test_a_dead_worker_s_rows_are_sent_by_the_others_within_two_minutes(
    cluster: Cluster, sink: SmtpSink, say: Callable[[str], None]
) -> None:
    first, second = cluster.worker_start("first"), cluster.worker_start("second")
    cluster.beat_start()
    digest = scheduled_digest(READERS)
    wait_until(lambda: sent_count(digest) >= 300, timeout=90)

    held_first, recovery_first = kill_and_recover(digest, first, cluster)
    dup_first = _duplicates(sink)
    cluster.worker_start("third")  # the replacement host comes up
    wait_until(lambda: sent_count(digest) >= 1500, timeout=120)
    held_second, recovery_second = kill_and_recover(digest, second, cluster)
    wait_until(
        lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(),
        timeout=180,
    )
    finished = time.monotonic()

    received = Counter(r.rcpt_tos[0] for r in sink.received)
    emails = dict(Delivery.objects.filter(digest=digest).values_list("pk", "subscriber__email"))
    duplicated = {email for email, n in received.items() if n > 1}
    flagged = set(
        Delivery.objects.filter(digest=digest, expired_claims__gt=0).values_list(
            "subscriber__email", flat=True
        )
    )
    say(
        f"worker death: rows held {len(held_first)} and {len(held_second)}, sent by the others "
        f"{recovery_first:.1f} s and {recovery_second:.1f} s after each kill; "
        f"duplicates {len(dup_first)} then {len(duplicated) - len(dup_first)} "
        f"(flagged {len(flagged)}); digest finished {finished - _t0(digest):.0f} s after start"
    )
    assert len(received) == READERS  # nobody lost
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] == counts["total"] == READERS
    assert recovery_first < RECOVERY_LIMIT and recovery_second < RECOVERY_LIMIT
    # At most the messages on the wire at each kill: per open connection (2 per worker) one, or
    # two on PostgreSQL (record.py: a sent mark's reply is read after the next message leaves),
    # each one a row the dead worker held, and each one flagged in the ledger.
    wire = record.unrecorded_per_connection(connection.vendor)
    assert duplicated <= {emails[pk] for pk in held_first | held_second}
    assert len(dup_first) <= first.concurrency * wire
    assert len(duplicated - dup_first) <= second.concurrency * wire
    assert duplicated <= flagged
    assert len(flagged) <= (first.concurrency + second.concurrency) * wire


def _duplicates(sink: SmtpSink) -> set[str]:
    received = Counter(r.rcpt_tos[0] for r in sink.received)
    return {email for email, n in received.items() if n > 1}


def _t0(digest: Digest) -> float:
    """The monotonic clock's reading when the digest started (its "started" event)."""
    started = Digest.objects.get(pk=digest.pk).events.get(action="started").at
    return time.monotonic() - float((timezone.now() - started).total_seconds())
