"""Who may be mailed on a list now: the rule, its count, and a batch's last-moment re-check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mailinglist import audience
from mailinglist.models import MailingList, Subscriber, Subscription, Suppression
from mailinglist.subscriptions import suppression_add
from newsletters.delivery import snapshot
from newsletters.models import Delivery
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest
from tests.statements_seen import sqlite_plan, statements_seen

pytestmark = pytest.mark.django_db
State = Subscription.State


@dataclass
class World:
    daily: MailingList
    weekly: MailingList
    active: Subscriber
    pause_over: Subscriber
    on_both: Subscriber
    pending: Subscriber
    unsubscribed: Subscriber
    suppressed: Subscriber
    pausing: Subscriber
    weekly_only: Subscriber

    @property
    def everyone(self) -> list[int]:
        return [
            reader.pk
            for reader in (
                self.active,
                self.pause_over,
                self.on_both,
                self.pending,
                self.unsubscribed,
                self.suppressed,
                self.pausing,
                self.weekly_only,
            )
        ]

    @property
    def mailable_on_daily(self) -> set[int]:
        return {self.active.pk, self.pause_over.pk, self.on_both.pk}


def _reader(mailing_list: MailingList, state: str = State.ACTIVE, **fields: object) -> Subscriber:
    reader = SubscriberFactory.create(**fields)
    SubscriptionFactory.create(subscriber=reader, mailing_list=mailing_list, state=state)
    return reader


@pytest.fixture
def world(daily: MailingList, weekly: MailingList) -> World:
    now = timezone.now()
    on_both = _reader(daily)
    SubscriptionFactory.create(subscriber=on_both, mailing_list=weekly)
    suppressed = _reader(daily, email="Bounced@Example.com")
    suppression_add(email="bounced@example.com", reason=Suppression.Reason.BOUNCED)
    return World(
        daily=daily,
        weekly=weekly,
        active=_reader(daily),
        pause_over=_reader(daily, paused_until=now - timedelta(minutes=1)),
        on_both=on_both,
        pending=_reader(daily, State.PENDING),
        unsubscribed=_reader(daily, State.UNSUBSCRIBED),
        suppressed=suppressed,
        pausing=_reader(daily, paused_until=now + timedelta(days=7)),
        weekly_only=_reader(weekly),
    )


def test_only_active_unpaused_unsuppressed_readers_of_the_list_may_be_mailed(world: World) -> None:
    assert audience.audience_count(mailing_list_id=world.daily.pk) == 3
    mailable = audience.readers_still_mailable(
        mailing_list_id=world.daily.pk, subscriber_ids=world.everyone
    )
    assert mailable == world.mailable_on_daily
    assert audience.readers_still_mailable(
        mailing_list_id=world.weekly.pk, subscriber_ids=world.everyone
    ) == {world.on_both.pk, world.weekly_only.pk}


def test_a_pause_ends_at_its_time(world: World) -> None:
    later = timezone.now() + timedelta(days=8)

    assert audience.audience_count(mailing_list_id=world.daily.pk, now=later) == 4
    assert audience.readers_still_mailable(
        mailing_list_id=world.daily.pk, subscriber_ids=[world.pausing.pk], now=later
    ) == {world.pausing.pk}


def test_the_count_is_the_snapshot_s_row_count(
    world: World, django_capture_on_commit_callbacks
) -> None:
    digest = make_digest(stories=1, mailing_list=world.daily)

    with django_capture_on_commit_callbacks(execute=False):
        total = snapshot.digest_snapshot(digest_id=digest.pk)

    owed = set(Delivery.objects.filter(digest=digest).values_list("subscriber_id", flat=True))
    assert total == audience.audience_count(mailing_list_id=world.daily.pk) == len(owed)
    assert owed == world.mailable_on_daily


def test_the_recheck_is_one_query_whatever_the_group_and_none_for_no_readers(world: World) -> None:
    with statements_seen(connection) as statements:
        audience.readers_still_mailable(
            mailing_list_id=world.daily.pk, subscriber_ids=world.everyone
        )
        assert (
            audience.readers_still_mailable(mailing_list_id=world.daily.pk, subscriber_ids=[])
            == set()
        )

    assert len(statements) == 1


def test_the_recheck_finds_readers_by_the_unique_index_even_with_the_pause_in_it(
    world: World,
) -> None:
    # SQLite chooses an index by the query's shape: with the state filtered in SQL it took the
    # (list, state) index and walked every subscription of the list for each group of 20.
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans from table statistics, not from the query's shape")
    with statements_seen(connection) as statements:
        audience.readers_still_mailable(
            mailing_list_id=world.daily.pk, subscriber_ids=world.everyone
        )
    plan = sqlite_plan(connection, *statements[0])

    assert "USING INDEX subscription_list_state" not in plan
    assert "(subscriber_id=? AND mailing_list_id=?)" in plan


def test_each_reader_left_out_has_a_reason(world: World) -> None:
    def reason(reader: Subscriber) -> str:
        return audience.reader_skip_reason(mailing_list_id=world.daily.pk, subscriber_id=reader.pk)

    assert reason(world.suppressed) == "Suppressed."
    assert reason(world.pausing) == "Paused."
    assert reason(world.unsubscribed) == "Unsubscribed before sending."
    assert reason(world.pending) == "Unsubscribed before sending."
    assert reason(world.weekly_only) == "Unsubscribed before sending."


def test_a_paused_reader_who_also_left_is_reported_as_having_left(world: World) -> None:
    Subscriber.objects.filter(pk=world.unsubscribed.pk).update(
        paused_until=timezone.now() + timedelta(days=1)
    )

    assert (
        audience.reader_skip_reason(
            mailing_list_id=world.daily.pk, subscriber_id=world.unsubscribed.pk
        )
        == "Unsubscribed before sending."
    )
