"""A real worker sending to a mail server that says 451 and 550 and hangs up mid-reply.

The worker runs with `tests.worker_settings` (first retry after 1 s instead of a minute); the
test plays beat, calling the reconciler that re-queues rows whose retry time has come.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker, database_url, own_bulk_worker
from mailinglist.models import Subscriber, Subscription, Suppression
from newsletters import scheduling
from newsletters.delivery import dispatch, progress, reconciler
from newsletters.models import Delivery, Digest
from tests.newsletters.digests import make_digest
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State
READERS = 300
TEMP_FAILS = 3  # each chosen address is deferred three times before it is accepted


@pytest.fixture(scope="module")
def faulty_worker(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[SmtpSink, Worker]]:
    from django.db import connection

    sink = SmtpSink(
        temp_fail_first_fraction=0.10,
        perm_fail_fraction=0.02,
        drop_fraction=0.01,
        temp_fail_attempts=TEMP_FAILS,
        seed=5,
    )
    sink.start()
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    try:
        with own_bulk_worker(
            db_url=db_url,
            email_url=sink.url,
            name="faults",
            settings_module="tests.worker_settings",
        ) as worker:
            yield sink, worker
    finally:
        sink.stop()


def _owed(digest: Digest) -> bool:
    return Delivery.objects.filter(digest=digest, state__in=[Row.PENDING, Row.SENDING]).exists()


def test_451_retried_with_growing_gaps_550_failed_and_suppressed_drops_delivered(
    faulty_worker: tuple[SmtpSink, Worker], transactional_db: None
) -> None:
    sink, worker = faulty_worker
    digest = make_digest(stories=2)
    emails = [f"fault{n}@example.com" for n in range(READERS)]
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=email, public_id=f"fault-{n}") for n, email in enumerate(emails)
    )
    Subscription.objects.bulk_create(
        Subscription(
            subscriber=s, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
        )
        for s in subscribers
    )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    assert dispatch.digests_dispatch_due() == [digest.pk]

    deadline = time.monotonic() + 120
    while _owed(digest):  # the beat's reconcile tick, every half second instead of a minute
        assert time.monotonic() < deadline, f"still owed after 120 s:\n{worker.log_tail()}"
        time.sleep(0.5)
        reconciler.deliveries_reconcile()
    wait_until(lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists())

    perm = {e for e in emails if sink.will_perm_fail(e)}
    temp = {e for e in emails if sink.will_temp_fail_first(e)}
    assert perm and temp and sink.dropped
    ledger = Delivery.objects.filter(digest=digest)
    states = dict(ledger.values_list("subscriber__email", "state"))
    attempts = dict(ledger.values_list("subscriber__email", "attempts"))
    # 550: failed after one attempt, suppressed, never tried again.
    assert {e for e, s in states.items() if s == Row.FAILED} == perm
    assert all(len(sink.attempts[e]) == 1 and attempts[e] == 1 for e in perm)
    assert set(Suppression.objects.values_list("email", flat=True)) == perm
    # 451: delivered on the fourth try, each pause at least the backoff promised (base 1 s,
    # doubling, jitter ±20%), and the pauses grow.
    base = 1.0
    gaps = {
        e: [b - a for a, b in zip(sink.attempts[e], sink.attempts[e][1:], strict=False)]
        for e in temp
    }
    for email in temp:
        assert states[email] == Row.SENT and attempts[email] == TEMP_FAILS + 1
        assert len(gaps[email]) == TEMP_FAILS
        for k, gap in enumerate(gaps[email]):
            assert gap >= 0.8 * base * 2**k - 0.05, (email, gaps[email])
    assert statistics.median(g[2] / g[0] for g in gaps.values()) > 2
    # Dropped connections: the message is sent again on a fresh connection and delivered.
    received = Counter(r.rcpt_tos[0] for r in sink.received)
    assert set(received) == set(emails) - perm
    assert all(states[e] == Row.SENT for e in set(emails) - perm)
    assert sum(n - 1 for n in received.values()) == 0
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] + counts["failed"] == counts["total"] == READERS
    assert counts["sent"] == len(received)
