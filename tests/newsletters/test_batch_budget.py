"""A batch sends for at most BATCH_SECONDS, then hands the rest of its block back and queues it.

A block holds BATCH_SIZE rows so that a fast send pays a batch's fixed cost rarely, and is claimed
a part at a time; under a slow send rate the same block would outlive its task's time limit. Real
Redis (the queued marker, the broker) and a real SMTP sink; the batch runs in-process.
"""

from __future__ import annotations

import pytest
from django.db import connection

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import batch, fanout, snapshot
from newsletters.delivery.ledger import BatchRange, queued_key
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


def _block_sent(sink: SmtpSink) -> tuple[Digest, BatchRange, batch.BatchResult]:
    """A digest of a group and 25 readers (one block, its queued marker cleared) and one batch
    run on it."""
    digest = sending_digest(readers=batch.GROUP_SIZE + 25)
    snapshot.digest_snapshot(digest_id=digest.pk)
    (block,) = fanout.batch_ranges(digest_id=digest.pk)
    redis_client().delete(queued_key(block))
    with transport_to(sink.port):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )
    return digest, block, result


def test_out_of_time_a_batch_finishes_its_group_releases_the_rest_and_queues_its_block(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "BATCH_SECONDS", 0.0)  # out of time once the first group is sent
    digest, block, result = _block_sent(smtp_sink)

    assert (result.sent, result.released, result.out_of_time) == (batch.GROUP_SIZE, 25, True)
    assert len(smtp_sink.received) == batch.GROUP_SIZE
    rows = Delivery.objects.filter(digest=digest)
    assert rows.filter(state=Row.SENT).count() == batch.GROUP_SIZE
    assert rows.filter(state=Row.PENDING, claimed_by="", attempts=0).count() == 25
    # Its block is queued again (one task, whatever else asks), and holds only the rest.
    assert redis_client().exists(queued_key(block))
    assert fanout.batch_ranges(digest_id=digest.pk) == [block]


def test_in_time_a_batch_sends_its_whole_block_and_queues_nothing(smtp_sink: SmtpSink) -> None:
    _, block, result = _block_sent(smtp_sink)

    assert (result.sent, result.released, result.out_of_time) == (batch.GROUP_SIZE + 25, 0, False)
    assert not redis_client().exists(queued_key(block))


def test_a_block_is_claimed_a_part_at_a_time_as_the_batch_reaches_it(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dead worker holds at most CLAIM_SIZE rows of its block, not the whole block.
    monkeypatch.setattr(batch, "CLAIM_SIZE", batch.GROUP_SIZE)
    monkeypatch.setattr(batch, "BATCH_SECONDS", 0.0)
    digest = sending_digest(readers=batch.GROUP_SIZE + 25)
    snapshot.digest_snapshot(digest_id=digest.pk)
    (block,) = fanout.batch_ranges(digest_id=digest.pk)
    claims_seen: list[int] = []

    def count_claims(execute, sql, params, many, context):
        if sql.lstrip().startswith("UPDATE") and "SET state = 'sending'" in sql:
            claims_seen.append(params[4] - params[3] + 1)  # the part's id span
        return execute(sql, params, many, context)

    with transport_to(smtp_sink.port), connection.execute_wrapper(count_claims):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )

    assert claims_seen == [batch.GROUP_SIZE]  # one part claimed; out of time before the next
    assert (result.sent, result.released, result.out_of_time) == (batch.GROUP_SIZE, 0, True)
    rows = Delivery.objects.filter(digest=digest)
    assert rows.filter(state=Row.PENDING, claimed_by="").count() == 25  # never claimed


def test_a_part_with_nothing_due_is_passed_over_and_the_block_still_sends_the_rest(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CLAIM_SIZE", batch.GROUP_SIZE)
    digest = sending_digest(readers=batch.GROUP_SIZE + 25)
    snapshot.digest_snapshot(digest_id=digest.pk)
    (block,) = fanout.batch_ranges(digest_id=digest.pk)
    first_part = range(block.first_id, block.first_id + batch.GROUP_SIZE)
    Delivery.objects.filter(digest=digest, pk__in=first_part).update(state=Row.SENT)

    with transport_to(smtp_sink.port):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )

    assert (result.sent, result.released, result.out_of_time) == (25, 0, False)
    assert len(smtp_sink.received) == 25
    assert set(Delivery.objects.filter(digest=digest).values_list("state", flat=True)) == {Row.SENT}
