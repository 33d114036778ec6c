"""Per-domain pacing against the suite's real Redis and a real SMTP sink, the batch in-process.

Each test has a sink of its own, so its groups' buckets (keyed by the server) are its own too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import batch, failures, fanout, pacing, progress, snapshot, throttle
from newsletters.delivery.failure_kinds import failures_by_kind
from newsletters.delivery.metrics import domain_pacing_rates
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client
from operations.transport.outcomes import rcpt_outcome
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State
SLOWED = rcpt_outcome(421, "4.7.0 Try again later")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    with transport_to(server.port):
        yield server
        client = redis_client()
        keys = list(client.scan_iter(match=f"{throttle.KEY_PREFIX}*:{server.port}:*"))
        if keys:
            client.delete(*keys)
    server.stop()


def _digest(emails: list[str]) -> Digest:
    """A sending digest of these readers, snapshot: its ledger rows in the order given."""
    digest = sending_digest(emails=emails)
    snapshot.digest_snapshot(digest_id=digest.pk)
    return digest


def _batch(digest: Digest) -> batch.BatchResult:
    (block,) = fanout.batch_ranges(digest_id=digest.pk)
    return batch.batch_send(
        digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="test"
    )


def _rows(digest: Digest, domain: str) -> list[Delivery]:
    return list(
        Delivery.objects.filter(digest=digest, subscriber__email__endswith=f"@{domain}").order_by(
            "pk"
        )
    )


def _mixed(n: int) -> list[str]:
    return [f"r{i}@{'gmail.com' if i % 2 else 'example.com'}" for i in range(n)]


@override_settings(DOMAIN_SEND_RATES={"gmail": 2.0}, SEND_RATE=0)
def test_a_groups_take_never_blocks_and_takes_nothing_when_it_says_wait(sink: SmtpSink) -> None:
    assert pacing.pacing_take(group="gmail") == 0.0  # the bucket's one token of burst
    first = pacing.pacing_take(group="gmail")
    second = pacing.pacing_take(group="gmail")
    assert 0 < second <= first <= 0.5  # asked twice, nothing taken: the wait only shrinks
    time.sleep(first)
    assert pacing.pacing_take(group="gmail") == 0.0
    # A group without a rate of its own is not limited until its domain asks us to slow down.
    assert all(pacing.pacing_take(group="outlook") == 0.0 for _ in range(50))


@override_settings(DOMAIN_SEND_RATES={"gmail": 40.0}, SEND_RATE=0, DELIVERY_HALT_SECONDS=30)
def test_a_slow_down_cuts_that_group_alone_and_says_why(sink: SmtpSink) -> None:
    wait = pacing.pacing_slow_down(group="gmail", outcome=SLOWED)
    pacing.pacing_slow_down(group="outlook", outcome=rcpt_outcome(451, "4.7.500 Server busy"))

    paces = {pace.group: pace for pace in pacing.pacing_states()}
    assert wait == pytest.approx(1 / 20)
    assert (paces["gmail"].rate, paces["gmail"].is_slowed) == (20.0, True)
    assert paces["gmail"].reason == "421 4.7.0" and paces["gmail"].recovering_seconds > 25
    # No rate of its own and SEND_RATE unlimited: the cut starts from UNKNOWN_BASE_RATE.
    assert paces["outlook"].rate == pacing.UNKNOWN_BASE_RATE / 2
    assert paces["outlook"].reason == "451 4.7.500"
    assert not paces["yahoo"].is_slowed and paces["yahoo"].rate == 0.0
    assert pacing.pacing_take(group="outlook") == 0.0  # slowed, and limited from now on
    assert pacing.pacing_take(group="outlook") > 0
    # /metrics shows each group's rate now (0: no limit of its own).
    assert domain_pacing_rates() == {"gmail": 20.0, "outlook": 5.0, "yahoo": 0.0, "other": 0.0}


@override_settings(DOMAIN_SEND_RATES={"gmail": 1.0}, SEND_RATE=0)
def test_rows_a_group_holds_back_go_back_to_pending_uncounted_and_the_rest_go_out(
    sink: SmtpSink,
) -> None:
    digest = _digest(_mixed(40))
    before = timezone.now()

    result = _batch(digest)

    gmail = _rows(digest, "gmail.com")
    assert all(row.state == Row.SENT for row in _rows(digest, "example.com"))
    assert [row.state for row in gmail].count(Row.SENT) <= 2  # 1/s: the burst token, maybe one
    held = [row for row in gmail if row.state == Row.PENDING]
    assert len(held) == result.held >= 18
    for row in held:
        assert (row.attempts, row.claimed_by) == (0, "")
        assert row.last_error.startswith("gmail: held back by its pacing")
        assert row.next_attempt_at is not None and row.next_attempt_at > before
    assert len(sink.received) == 20 + (20 - len(held))
    # The progress shows which group holds the digest back, and how many of its rows wait.
    report = progress.digest_progress_report(digest=Digest.objects.get(pk=digest.pk))
    (line,) = report["pacing"]
    assert (line["group"], line["waiting"], line["is_slowed"]) == ("gmail", len(held), False)
    assert f"gmail: held to 1/s, {len(held)} messages waiting" in report["text"]


@override_settings(SEND_RATE=0, DELIVERY_HALT_SECONDS=30)
def test_a_421_at_rcpt_slows_its_group_defers_the_reader_and_halts_nothing(
    sink: SmtpSink,
) -> None:
    sink.refuse_domains(["gmail.com"])
    digest = _digest(_mixed(40))

    result = _batch(digest)

    assert not result.halted
    assert all(row.state == Row.SENT for row in _rows(digest, "example.com"))
    first, *rest = _rows(digest, "gmail.com")
    # The first gmail reader was tried and refused: an attempt, retried after its backoff.
    assert (first.state, first.attempts, first.claimed_by) == (Row.PENDING, 1, "")
    assert first.last_error == "gmail: 421 4.7.0 Try again later"
    assert first.next_attempt_at is not None and first.next_attempt_at > timezone.now()
    # The group's other readers in the batch were put back untried, not refused one by one.
    assert {(row.state, row.attempts) for row in rest} == {(Row.PENDING, 0)}
    assert sink.domain_refused == 1 and len(sink.received) == 20
    report = progress.digest_progress_report(digest=Digest.objects.get(pk=digest.pk))
    assert (
        "gmail: slowed to 5/s after 421 4.7.0 (recovering), 20 messages waiting" in (report["text"])
    )


@override_settings(SEND_RATE=0, DELIVERY_HALT_SECONDS=30)
def test_a_domain_that_refuses_for_good_fails_its_readers_after_max_attempts(
    sink: SmtpSink,
) -> None:
    sink.refuse_domains(["gmail.com"])
    digest = _digest(["last@gmail.com", "fine@example.com"])
    Delivery.objects.filter(digest=digest).update(attempts=failures.MAX_ATTEMPTS - 1)

    result = _batch(digest)

    last = Delivery.objects.get(digest=digest, subscriber__email="last@gmail.com")
    assert (last.state, last.attempts, result.failed) == (Row.FAILED, failures.MAX_ATTEMPTS, 1)
    assert failures_by_kind(digest_ids=[digest.pk])["expired"] == 1
