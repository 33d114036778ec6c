"""A batch's claim: one UPDATE that takes the block's due pending rows and returns them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mailinglist.models import Subscriber, Subscription
from newsletters.delivery import batch, claimed, fanout, snapshot
from newsletters.models import Delivery, Digest
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db


def _snapshotted(django_capture_on_commit_callbacks, readers: int) -> Digest:
    digest = sending_digest(email="Reader{n}@Example.com", readers=readers)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    return digest


def test_the_claim_takes_the_due_pending_rows_of_the_block_and_returns_them_in_order(
    django_capture_on_commit_callbacks,
) -> None:
    digest = _snapshotted(django_capture_on_commit_callbacks, readers=5)
    rows = list(Delivery.objects.filter(digest=digest).order_by("pk"))
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=rows[1].pk).update(next_attempt_at=later)  # not due yet
    Delivery.objects.filter(pk=rows[2].pk).update(state=Delivery.State.SENT)
    now = timezone.now()

    got = claimed.rows_claim(
        digest_id=digest.pk, first_id=rows[0].pk, last_id=rows[3].pk, token="t:1", now=now
    )

    assert [row.pk for row in got] == [rows[0].pk, rows[3].pk]
    first = Subscriber.objects.get(pk=rows[0].subscriber_id)
    assert got[0] == claimed.ClaimedRow(
        pk=rows[0].pk,
        subscriber_id=first.pk,
        attempts=0,
        claimed_by="t:1",
        subscriber=claimed.Reader(first.pk, first.email, first.name, first.public_id),
    )
    held = Delivery.objects.filter(claimed_by="t:1", state=Delivery.State.SENDING)
    assert set(held.values_list("pk", flat=True)) == {rows[0].pk, rows[3].pk}
    # A second copy of the batch finds nothing left to take.
    again = claimed.rows_claim(
        digest_id=digest.pk, first_id=rows[0].pk, last_id=rows[4].pk, token="t:2", now=now
    )
    assert [row.pk for row in again] == [rows[4].pk]


def test_a_row_whose_reader_vanished_is_skipped_not_left_pending(
    django_capture_on_commit_callbacks,
) -> None:
    # The ledger has no database-level foreign keys (models.Delivery): a reader deleted by raw
    # SQL leaves a row Django would have cascaded. It must not wait for ever.
    digest = _snapshotted(django_capture_on_commit_callbacks, readers=3)
    gone = Delivery.objects.filter(digest=digest).order_by("pk").first()
    assert gone is not None
    Subscription.objects.filter(subscriber_id=gone.subscriber_id).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Subscriber._meta.db_table} WHERE id = %s",  # noqa: S608
            [gone.subscriber_id],
        )

    for block in fanout.batch_ranges(digest_id=digest.pk):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )

    assert (result.sent, result.skipped) == (2, 1)
    gone.refresh_from_db()
    assert gone.state == Delivery.State.SKIPPED
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENT
