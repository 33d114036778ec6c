"""A group's last message waits for the next group's first envelope; a stop found between two
groups keeps it back, pending (nothing leaves after a pause, nobody is lost, no empty message): a
batch in-process against a real SMTP sink that offers PIPELINING (aiosmtpd), real Redis and the
real database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.test import override_settings

from devtools.ports import free_port
from devtools.smtp_sink import SmtpSink
from newsletters.delivery import batch, fanout, snapshot
from newsletters.delivery.ledger import queued_key
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State
EXTRA = 3  # readers in the second group


@pytest.fixture
def sink(pipelining_sink: SmtpSink) -> SmtpSink:
    return pipelining_sink


def _batch_run(digest: Digest) -> batch.BatchResult:
    snapshot.digest_snapshot(digest_id=digest.pk)
    (block,) = fanout.batch_ranges(digest_id=digest.pk)
    redis_client().delete(queued_key(block))
    return batch.batch_send(
        digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
    )


def _delivered(sink: SmtpSink) -> list[str]:
    return [rcpt for message in sink.received for rcpt in message.rcpt_tos]


def _at_second_recheck(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> None:
    """Call `then` as the batch re-checks its second group's readers, before it queries them."""
    calls: list[int] = []
    real = batch._still_allowed

    def still_allowed(*, digest: Digest, rows: Sequence[Any]) -> set[int]:
        calls.append(len(rows))
        if len(calls) == 2:
            then()
        return real(digest=digest, rows=rows)

    monkeypatch.setattr(batch, "_still_allowed", still_allowed)


def test_a_groups_last_message_leaves_with_the_next_groups_first_envelope(
    sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = sending_digest(readers=batch.GROUP_SIZE + EXTRA)
    at_second_check: list[list[str]] = []
    _at_second_recheck(monkeypatch, lambda: at_second_check.append(_delivered(sink)))

    result = _batch_run(digest)

    # When the second group was re-checked, the first group's last message was still held:
    # it left with the second group's first envelope, one round trip for both.
    emails = [f"reader{n}@example.com" for n in range(batch.GROUP_SIZE + EXTRA)]
    assert at_second_check == [emails[: batch.GROUP_SIZE - 1]]
    assert (result.sent, result.released) == (batch.GROUP_SIZE + EXTRA, 0)
    assert _delivered(sink) == emails
    # No envelope was opened twice, none was left to become an empty message.
    assert all(len(times) == 1 for times in sink.attempts.values())
    assert all(message.raw for message in sink.received)


def test_a_pause_between_two_groups_stops_the_held_message_too(
    sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = sending_digest(readers=batch.GROUP_SIZE + EXTRA)
    checks: list[int] = []
    real = batch._digest_state

    def digest_state(digest_id: int) -> str | None:
        checks.append(digest_id)
        if len(checks) == 2:  # the second group's check: the editor pressed Pause meanwhile
            Digest.objects.filter(pk=digest_id).update(state=Digest.State.PAUSED)
        return real(digest_id)

    monkeypatch.setattr(batch, "_digest_state", digest_state)

    result = _batch_run(digest)

    # Nothing leaves once the pause is seen, not even the message held for the next envelope:
    # it waits with the rest for the resume, no attempt counted, and no empty message was made.
    first_group = [f"reader{n}@example.com" for n in range(batch.GROUP_SIZE)]
    assert _delivered(sink) == first_group[:-1]
    assert all(message.raw for message in sink.received)
    assert (result.sent, result.released) == (batch.GROUP_SIZE - 1, 1 + EXTRA)
    rows = Delivery.objects.filter(digest=digest)
    assert rows.filter(state=Row.SENT).count() == batch.GROUP_SIZE - 1
    assert rows.filter(state=Row.PENDING, claimed_by="", attempts=0).count() == 1 + EXTRA


def test_an_error_between_two_groups_leaves_the_held_message_unsent_and_pending(
    sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = sending_digest(readers=batch.GROUP_SIZE + EXTRA)
    # Redis goes away between the two groups (REDIS_URL now names a port nobody listens on): the
    # next group's pacing cannot take its token, and the batch stops there.
    gone = override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    _at_second_recheck(monkeypatch, gone.enable)
    try:
        result = _batch_run(digest)
    finally:
        gone.disable()

    # The held message's envelope was open; the connection was closed rather than let it
    # become an empty message, and the row waits for the next batch, no attempt counted.
    held = f"reader{batch.GROUP_SIZE - 1}@example.com"
    assert held not in _delivered(sink)
    assert len(sink.received) == batch.GROUP_SIZE - 1
    assert all(message.raw for message in sink.received)
    assert (result.sent, result.released) == (batch.GROUP_SIZE - 1, 1 + EXTRA)
    row = Delivery.objects.get(digest=digest, subscriber__email=held)
    assert (row.state, row.claimed_by, row.attempts) == (Row.PENDING, "", 0)
