"""A service the workers depend on goes away mid-send and comes back: Redis restarted, the mail
server down for several backoff periods, beat down for several ticks or running twice.

Each on the production topology (tests/integration/cluster.py): nobody is lost, the counts add
up, and the time from the end of the fault to the end of the send is printed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import progress
from newsletters.models import Delivery, Digest, EditionRun
from tests.factories import EditionScheduleFactory, StoryFactory
from tests.integration.cluster import Cluster, is_sent, readers_add, scheduled_digest, sent_count
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State


def _received(sink: SmtpSink) -> Counter[str]:
    return Counter(r.rcpt_tos[0] for r in sink.received)


def test_redis_restarted_mid_send_loses_nobody_and_sends_nobody_twice(
    cluster: Cluster, sink: SmtpSink, say: Callable[[str], None]
) -> None:
    for name in ("first", "second"):
        cluster.worker_start(name)
    cluster.beat_start()
    digest = scheduled_digest(1500)
    wait_until(lambda: sent_count(digest) >= 300, timeout=90)

    cluster.redis_stop()  # a clean restart: the append-only file keeps queues and markers
    time.sleep(5)
    cluster.redis_start()
    back = time.monotonic()
    wait_until(lambda: is_sent(digest), timeout=240, interval=0.5)

    received = _received(sink)
    say(f"Redis restart: digest finished {time.monotonic() - back:.0f} s after Redis was back")
    assert len(received) == 1500
    assert set(received.values()) == {1}
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] == counts["total"] == 1500


def test_the_mail_server_down_for_several_backoffs_costs_no_attempts_and_the_send_finishes(
    fast_cluster: Cluster, sink: SmtpSink, say: Callable[[str], None]
) -> None:
    for name in ("first", "second"):
        fast_cluster.worker_start(name)
    fast_cluster.beat_start()
    digest = scheduled_digest(800)
    wait_until(lambda: sent_count(digest) >= 100, timeout=60)

    sink.stop()  # connections refused: the server is down, not the readers' addresses wrong
    time.sleep(8)  # four halt periods of tests.fault_settings (2 s each)
    held_back = Delivery.objects.filter(digest=digest, state=Row.PENDING).count()
    sink.start()
    back = time.monotonic()
    wait_until(lambda: is_sent(digest), timeout=120, interval=0.5)

    say(f"SMTP down 8 s: digest finished {time.monotonic() - back:.1f} s after it was back")
    assert held_back > 0
    ledger = Delivery.objects.filter(digest=digest)
    assert set(ledger.values_list("state", flat=True)) == {Row.SENT}
    assert len(_received(sink)) == 800
    # Waiting for the server is not the reader's fault: no attempt is counted for it. Only a
    # message on the wire when the server went away counts one deferral.
    attempts = Counter(ledger.values_list("attempts", flat=True))
    assert set(attempts) <= {1, 2}
    assert attempts[2] <= 4  # one per open connection: two workers of two processes


def test_due_digests_and_editions_wait_for_beat_and_two_beats_send_each_digest_once(
    fast_cluster: Cluster, sink: SmtpSink, say: Callable[[str], None]
) -> None:
    fast_cluster.worker_start("only")
    due = scheduled_digest(50, prefix="due")
    StoryFactory.create_batch(3, is_featured=True)
    slot = (timezone.now() + timedelta(minutes=1)).astimezone(UTC).replace(second=0, microsecond=0)
    if slot - timezone.now() < timedelta(seconds=20):
        slot += timedelta(minutes=1)  # a slot far enough ahead to be prepared, not missed
    edition = EditionScheduleFactory.create(
        local_time=slot.time(), timezone="UTC", lead_minutes=30, story_count=2
    )
    readers_add(edition.mailing_list, 30, prefix="edition")
    time.sleep(5)  # five dispatch ticks, and two of preparing editions, with no beat
    assert Digest.objects.get(pk=due.pk).state == Digest.State.SCHEDULED
    assert not EditionRun.objects.filter(schedule=edition).exists()

    first = fast_cluster.beat_start()
    back = time.monotonic()
    wait_until(lambda: is_sent(due), timeout=60)
    caught_up = time.monotonic() - back
    run = wait_until(lambda: EditionRun.objects.filter(schedule=edition).first(), timeout=30)
    edition_digest = run.digest
    assert edition_digest is not None

    second = fast_cluster.beat_start()  # by mistake: two beats tick side by side
    twice = [scheduled_digest(40, prefix=f"twice{n}-") for n in range(3)]
    wait_until(lambda: all(is_sent(d) for d in [*twice, edition_digest]), timeout=150, interval=0.5)
    assert first.process.poll() is None and second.process.poll() is None

    say(f"beat down 5 s: the due digest was sent {caught_up:.1f} s after beat came back")
    received = _received(sink)
    assert set(received.values()) == {1}  # every reader once, whatever the number of beats
    assert sum(received.values()) == 50 + 3 * 40 + sent_count(edition_digest)
    for digest in [due, *twice, edition_digest]:
        counts = progress.digest_counts(digest_id=digest.pk)
        assert counts["sent"] == counts["total"] > 0
        assert Digest.objects.get(pk=digest.pk).events.filter(action="started").count() == 1
    assert datetime.now(UTC) >= slot
