"""Batches against a mail server that says 451, 550 and hangs up: every outcome is recorded.

The batch runs in-process here (the integration tests run it in a worker) so the retry pauses
can be shortened and each round driven by the test; the SMTP traffic is real.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from devtools.ports import free_port
from devtools.smtp_sink import SmtpSink
from mailinglist.models import Suppression
from newsletters.delivery import batch, fanout, ledger, progress, snapshot
from newsletters.models import Delivery, Digest
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def faulty(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    sink = SmtpSink(
        temp_fail_first_fraction=0.10,
        perm_fail_fraction=0.02,
        drop_fraction=0.01,
        seed=3,
        pipelining=request.param,
    )
    sink.start()
    with transport_to(sink.port):
        yield sink
    sink.stop()


def _round(digest: Digest) -> None:
    for block in fanout.batch_ranges(digest_id=digest.pk):
        batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="test"
        )


@override_settings(DELIVERY_RETRY_BASE_SECONDS=0)  # retry at once: the test drives the rounds
def test_451_retried_550_failed_and_suppressed_drops_delivered(
    faulty: SmtpSink, django_capture_on_commit_callbacks
) -> None:
    digest = sending_digest(email="r{n}@example.com", stories=2, readers=400)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)

    for _ in range(6):
        _round(digest)
        if not Delivery.objects.filter(digest=digest, state=Row.PENDING).exists():
            break

    emails = [f"r{n}@example.com" for n in range(400)]
    perm = {e for e in emails if faulty.will_perm_fail(e)}
    temp = {e for e in emails if faulty.will_temp_fail_first(e)}
    states = dict(Delivery.objects.filter(digest=digest).values_list("subscriber__email", "state"))
    assert perm and temp
    assert {e for e, s in states.items() if s == Row.FAILED} == perm  # 550: failed, never retried
    assert all(states[e] == Row.SENT for e in set(emails) - perm)  # 451s and drops delivered
    assert all(len(faulty.attempts[e.lower()]) == 1 for e in perm)
    assert all(len(faulty.attempts[e.lower()]) >= 2 for e in temp - perm)
    suppressed = set(Suppression.objects.values_list("email", flat=True))
    assert suppressed == perm  # hard bounces are suppressed
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] + counts["failed"] == counts["total"] == 400
    assert (
        ledger.digest_finish_if_done(digest_id=digest.pk)
        or Digest.objects.get(pk=digest.pk).state == Digest.State.SENT
    )
    received = Counter(r.rcpt_tos[0] for r in faulty.received)
    assert set(received) == set(emails) - perm
    # A connection dropped after DATA may have delivered the message: at most those repeat.
    assert sum(n - 1 for n in received.values()) <= len(faulty.dropped_after_data)


def test_an_unreachable_server_holds_the_rows_without_counting_attempts(
    django_capture_on_commit_callbacks,
) -> None:
    digest = sending_digest(email="r{n}@example.com", stories=2, readers=30)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)

    with transport_to(free_port()):  # nothing listens there
        _round(digest)
        rows = Delivery.objects.filter(digest=digest)
        assert {(row.state, row.attempts) for row in rows} == {(Row.PENDING, 0)}
        assert all(row.next_attempt_at and row.next_attempt_at > timezone.now() for row in rows)
        assert "Could not reach the mail server" in rows.order_by("pk")[0].last_error
        # Every batch for that server now waits out the halt instead of trying again at once.
        Delivery.objects.filter(digest=digest).update(next_attempt_at=None)
        _round(digest)
    assert Delivery.objects.filter(digest=digest, state=Row.PENDING).count() == 30
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENDING


def test_a_refused_sender_pauses_the_digest_and_suppresses_nobody(
    django_capture_on_commit_callbacks,
) -> None:
    sink = SmtpSink(sender_reply="550 5.7.1 Sender address rejected: not owned by user")
    sink.start()
    digest = sending_digest(email="r{n}@example.com", stories=2, readers=30)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    try:
        with transport_to(sink.port):
            _round(digest)
    finally:
        sink.stop()

    rows = Delivery.objects.filter(digest=digest)
    assert {(row.state, row.attempts) for row in rows} == {(Row.PENDING, 0)}
    assert not Suppression.objects.exists()
    paused = Digest.objects.get(pk=digest.pk)
    assert paused.state == Digest.State.PAUSED
    assert "refused the sender" in paused.events.get(action="paused").detail
    assert sink.received == []
