"""The ledger's bookkeeping without a worker: snapshot, batch blocks, expired claims, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from mailinglist.addresses import email_hash
from mailinglist.models import Subscriber, Subscription, Suppression
from mailinglist.subscriptions import suppression_add
from newsletters.delivery import (
    batch,
    claims,
    failures,
    fanout,
    progress,
    reconciler,
    retention,
    snapshot,
)
from newsletters.models import Delivery, Digest
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.newsletters.digests import sending_digest
from tests.statements_seen import sqlite_plan, statements_seen

pytestmark = pytest.mark.django_db
Row = Delivery.State


def test_every_way_of_creating_a_subscriber_keeps_its_suppression_hash() -> None:
    made = SubscriberFactory.create(email="One@Example.com")
    bulk = Subscriber.objects.bulk_create([Subscriber(email="Two@Example.com", public_id="b")])[0]
    made.email = "Three@Example.com"
    made.save(update_fields=["email"])

    stored = dict(Subscriber.objects.values_list("email", "email_hash"))
    assert stored == {
        "Three@Example.com": email_hash("three@example.com"),
        "Two@Example.com": email_hash("two@example.com"),
    }
    assert bulk.email_hash == email_hash("Two@Example.com")


def test_snapshot_leaves_out_the_suppressed_the_paused_and_the_unsubscribed(
    django_capture_on_commit_callbacks,
) -> None:
    digest = sending_digest(email="Reader{n}@Example.com", readers=6)
    readers = list(Subscriber.objects.order_by("pk"))
    suppression_add(email="reader0@example.com", reason=Suppression.Reason.BOUNCED)
    suppression_add(email=readers[1].email, reason=Suppression.Reason.ERASED)
    Subscriber.objects.filter(pk=readers[2].pk).update(
        paused_until=timezone.now() + timedelta(days=7)
    )
    Subscription.objects.filter(subscriber=readers[3]).update(state=Subscription.State.UNSUBSCRIBED)
    SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="pending@example.com"),
        mailing_list=digest.mailing_list,
        state=Subscription.State.PENDING,
    )

    with django_capture_on_commit_callbacks(execute=False):
        total = snapshot.digest_snapshot(digest_id=digest.pk)
        again = snapshot.digest_snapshot(digest_id=digest.pk)  # idempotent

    owed = set(Delivery.objects.filter(digest=digest).values_list("subscriber_id", flat=True))
    assert owed == {readers[4].pk, readers[5].pk}
    assert total == again == 2
    assert Digest.objects.get(pk=digest.pk).audience_count == 2


def test_batch_blocks_are_fixed_and_hold_only_due_pending_rows(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "BATCH_SIZE", 200)  # blocks of 200: a ledger of 605 rows
    digest = sending_digest(email="Reader{n}@Example.com", readers=605)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    ids = list(Delivery.objects.filter(digest=digest).order_by("pk").values_list("pk", flat=True))
    base = ids[0]

    all_blocks = fanout.batch_ranges(digest_id=digest.pk)
    assert [(b.first_id - base, b.last_id - base) for b in all_blocks] == [
        (0, 199),
        (200, 399),
        (400, 599),
        (600, 799),
    ]
    # Block 1 all sent, block 2 waiting for a retry later, block 3 has one row due again now.
    Delivery.objects.filter(pk__in=ids[200:400]).update(state=Row.SENT)
    Delivery.objects.filter(pk__in=ids[400:600]).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    Delivery.objects.filter(pk__in=ids[600:]).update(state=Row.FAILED)
    Delivery.objects.filter(pk=ids[601]).update(
        state=Row.PENDING, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    due = fanout.batch_ranges(digest_id=digest.pk)
    assert [(b.first_id - base) for b in due] == [0, 600]


def test_an_expired_claim_goes_back_to_pending_and_stays_visible_as_a_possible_duplicate(
    django_capture_on_commit_callbacks,
) -> None:
    digest = sending_digest(email="Reader{n}@Example.com", readers=3)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    rows = list(Delivery.objects.filter(digest=digest).order_by("pk"))
    long_ago = timezone.now() - timedelta(minutes=30)
    Delivery.objects.filter(pk=rows[0].pk).update(
        state=Row.SENDING, claimed_by="dead:1", claimed_at=long_ago
    )
    Delivery.objects.filter(pk=rows[1].pk).update(
        state=Row.SENDING, claimed_by="alive:1", claimed_at=timezone.now()
    )

    with claims.ClaimKeeper("alive:1"):  # a batch that is still running keeps its claim
        result = reconciler.deliveries_reconcile()

    assert result["expired"] == 1
    expired, alive = Delivery.objects.get(pk=rows[0].pk), Delivery.objects.get(pk=rows[1].pk)
    assert (expired.state, expired.expired_claims, expired.claimed_by) == (Row.PENDING, 1, "")
    assert "twice" in expired.last_error
    assert (alive.state, alive.expired_claims) == (Row.SENDING, 0)
    assert progress.digest_possible_duplicates(digest_id=digest.pk) == 1


def test_possible_duplicates_are_kept_when_the_ledger_is_reduced_to_counts() -> None:
    digest = sending_digest(email="Reader{n}@Example.com", readers=2)
    for n, subscriber in enumerate(Subscriber.objects.order_by("pk")):
        Delivery.objects.create(
            digest=digest, subscriber=subscriber, state=Row.SENT, expired_claims=n
        )
    old = timezone.now() - timedelta(days=60)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=old, updated_at=old)

    assert retention.deliveries_retain(older_than=timedelta(days=30)) == 1

    assert not Delivery.objects.filter(digest=digest).exists()
    assert progress.digest_possible_duplicates(digest_id=digest.pk) == 1


@override_settings(DELIVERY_RETRY_BASE_SECONDS=7)
def test_retry_pauses_start_at_the_setting_and_double(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("newsletters.delivery.failures.random.uniform", lambda a, b: 1.0)
    now = timezone.now()

    gaps = [round((failures.retry_at(n) - now).total_seconds()) for n in range(1, 13)]

    assert gaps[:4] == [7, 14, 28, 56]
    assert gaps[-1] == failures.RETRY_MAX_SECONDS


def test_a_batch_skips_readers_who_left_or_were_suppressed_since_the_snapshot(
    django_capture_on_commit_callbacks,
) -> None:
    digest = sending_digest(email="Reader{n}@Example.com", readers=4)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    readers = list(Subscriber.objects.order_by("pk"))
    suppression_add(email=readers[0].email, reason=Suppression.Reason.COMPLAINED)
    Subscription.objects.filter(subscriber=readers[1]).update(state=Subscription.State.UNSUBSCRIBED)

    for block in fanout.batch_ranges(digest_id=digest.pk):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )

    assert (result.sent, result.skipped) == (2, 2)
    outcome = dict(
        Delivery.objects.filter(digest=digest).values_list("subscriber_id", "last_error")
    )
    assert outcome[readers[0].pk] == "Suppressed."
    assert outcome[readers[1].pk] == "Unsubscribed before sending."
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENT


def test_the_group_recheck_finds_readers_by_the_unique_index_not_by_walking_the_list(
    django_capture_on_commit_callbacks,
) -> None:
    # SQLite chooses an index by the query's shape: with the state filtered in SQL it took the
    # (list, state) index and walked every subscription of the list for each group of 20.
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans from table statistics, not from the query's shape")
    digest = sending_digest(email="Reader{n}@Example.com", readers=60)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    rows = list(Delivery.objects.filter(digest=digest).order_by("pk")[:20])

    with statements_seen(connection) as statements:
        allowed = batch._still_allowed(digest=digest, rows=rows)
    plan = sqlite_plan(connection, *statements[0])

    assert allowed == {row.subscriber_id for row in rows}
    assert len(statements) == 1
    assert "USING INDEX subscription_list_state" not in plan
    assert "(subscriber_id=? AND mailing_list_id=?)" in plan
