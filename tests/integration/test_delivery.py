"""The delivery engine with a real worker (2 processes), real Redis and the SMTP sink."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist.models import Subscriber, Subscription
from newsletters import scheduling
from newsletters.delivery import controls, dispatch, progress, reconciler
from newsletters.delivery.ledger import BATCH_SIZE
from newsletters.models import Delivery, Digest
from tests.integration.cluster import readers_add
from tests.newsletters.digests import make_digest
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State


def _started(count: int, *, stories: int = 3) -> Digest:
    digest = make_digest(stories=stories)
    readers_add(digest.mailing_list, count, prefix="reader")
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    assert dispatch.digests_dispatch_due() == [digest.pk]  # what the beat tick does
    return digest


def _done(digest: Digest, timeout: float = 180) -> Digest:
    wait_until(
        lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(),
        timeout=timeout,
    )
    return Digest.objects.get(pk=digest.pk)


def _sent_count(digest: Digest) -> int:
    return Delivery.objects.filter(digest=digest, state=Row.SENT).count()


def _per_recipient(sink: SmtpSink) -> Counter[str]:
    return Counter(r.rcpt_tos[0] for r in sink.received)


def test_two_thousand_readers_each_get_exactly_one_message(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    digest = _started(2000)

    _done(digest)

    received = _per_recipient(smtp_sink)
    assert len(received) == 2000
    assert set(received.values()) == {1}
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] == counts["total"] == 2000
    first = smtp_sink.received[0]
    assert first.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = Delivery.objects.get(digest=digest, subscriber__email=first.rcpt_tos[0])
    assert first.message["Message-ID"] == f"<{row.message_id}@127.0.0.1>"


def test_a_second_dispatch_or_start_sends_nothing_more(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    digest = _started(300)

    assert dispatch.digests_dispatch_due() == []
    assert dispatch.digest_start(digest_id=digest.pk) is False
    _done(digest)

    assert set(_per_recipient(smtp_sink).values()) == {1}
    assert len(smtp_sink.received) == 300


def test_a_reader_who_unsubscribes_mid_send_gets_nothing_after(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    digest = _started(1500)
    wait_until(lambda: _sent_count(digest) >= 100)
    last = Subscriber.objects.order_by("-pk").first()
    assert last is not None
    Subscription.objects.filter(subscriber=last).update(state=Subscription.State.UNSUBSCRIBED)
    unsubscribed_at = time.time()

    _done(digest)

    times = [r for r in smtp_sink.received if r.rcpt_tos == [last.email]]
    assert times == []  # the last reader's group came long after their unsubscribe
    row = Delivery.objects.get(digest=digest, subscriber=last)
    assert (row.state, row.last_error) == (Row.SKIPPED, "Unsubscribed before sending.")
    assert unsubscribed_at
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] + counts["skipped"] == counts["total"] == 1500


def test_pause_then_resume(celery_worker: Worker, smtp_sink: SmtpSink) -> None:
    digest = _started(1500)
    wait_until(lambda: _sent_count(digest) >= 100)

    controls.digest_pause(digest_id=digest.pk)
    time.sleep(2)  # let the groups in flight finish
    paused_at = len(smtp_sink.received)
    time.sleep(2)
    assert len(smtp_sink.received) == paused_at  # nothing more while paused
    assert paused_at < 1500

    controls.digest_resume(digest_id=digest.pk)
    _done(digest)

    assert len(smtp_sink.received) == 1500
    assert set(_per_recipient(smtp_sink).values()) == {1}


def test_cancel_mid_send(celery_worker: Worker, smtp_sink: SmtpSink) -> None:
    digest = _started(1500)
    wait_until(lambda: _sent_count(digest) >= 100)

    controls.digest_cancel(digest_id=digest.pk)
    time.sleep(3)
    wait_until(
        lambda: (
            not Delivery.objects.filter(
                digest=digest, state__in=[Row.PENDING, Row.SENDING]
            ).exists()
        )
    )
    final = len(smtp_sink.received)
    time.sleep(1)

    counts = progress.digest_counts(digest_id=digest.pk)
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert len(smtp_sink.received) == final == counts["sent"] < 1500
    assert counts["sent"] + counts["skipped"] == counts["total"] == 1500


def test_redis_flushed_mid_send_loses_nobody_and_resends_nothing(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    from operations.redis_client import redis_client

    # Six blocks of BATCH_SIZE: more than the worker holds (two processes, each with a block in
    # hand and one prefetched), so some are still queued when Redis is flushed.
    digest = _started(6 * BATCH_SIZE)
    wait_until(lambda: _sent_count(digest) >= 200)

    redis_client().flushdb()  # every queued batch, and kombu's routing table, gone
    time.sleep(3)
    assert Delivery.objects.filter(digest=digest, state=Row.PENDING).exists()
    reconciler.deliveries_reconcile()

    _done(digest)

    received = _per_recipient(smtp_sink)
    assert len(received) == 6 * BATCH_SIZE
    assert set(received.values()) == {1}


def test_a_digest_scheduled_ahead_goes_out_once_when_due(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    # No ETA task waits in Redis (where visibility_timeout would re-deliver it): send_at is a row
    # that each beat tick looks at, so however far ahead, it starts once, when due.
    digest = make_digest(stories=1)
    readers_add(digest.mailing_list, 50, prefix="reader")
    scheduling.digest_schedule(
        digest_id=digest.pk, send_at=timezone.now() + timedelta(seconds=2), by=None
    )

    assert dispatch.digests_dispatch_due() == []  # not yet
    time.sleep(2.5)
    assert dispatch.digests_dispatch_due() == [digest.pk]
    assert dispatch.digests_dispatch_due() == []
    _done(digest)

    assert len(smtp_sink.received) == 50
    assert set(_per_recipient(smtp_sink).values()) == {1}
