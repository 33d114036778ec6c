"""The ledger's layout at a million: rows in reader order, a mark that finds its row by id."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from mailinglist import preferences, subscriptions
from mailinglist.models import Subscriber, Subscription
from newsletters.delivery import claimed, record, snapshot
from newsletters.models import Delivery
from tests.newsletters.digests import sending_digest
from tests.statements_seen import sqlite_plan, statements_seen

pytestmark = pytest.mark.django_db
ON_POSTGRESQL = connection.vendor == "postgresql"


def test_the_snapshot_puts_the_readers_in_the_ledger_in_reader_order() -> None:
    digest = sending_digest(readers=0)
    readers = Subscriber.objects.bulk_create(
        Subscriber(email=f"r{n}@example.com", public_id=f"p{n}") for n in range(40)
    )
    # Subscribed newest first, so the list's own order is the reverse of the readers'.
    Subscription.objects.bulk_create(
        Subscription(subscriber=r, mailing_list=digest.mailing_list, state="active")
        for r in reversed(readers)
    )

    assert snapshot.digest_snapshot(digest_id=digest.pk) == 40

    in_ledger = list(
        Delivery.objects.filter(digest=digest)
        .order_by("pk")
        .values_list("subscriber_id", flat=True)
    )
    assert in_ledger == sorted(r.pk for r in readers)


def test_an_erased_reader_leaves_no_row_in_the_ledger() -> None:
    digest = sending_digest(readers=30)
    snapshot.digest_snapshot(digest_id=digest.pk)
    gone = Subscriber.objects.order_by("pk")[12]

    preferences.subscriber_erase(subscriber=gone, meta=subscriptions.RequestMeta(), by="reader")

    assert not Delivery.objects.filter(subscriber_id=gone.pk).exists()
    assert Delivery.objects.filter(digest=digest).count() == 29


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_the_sent_mark_finds_its_row_by_id_whatever_the_statistics_say() -> None:
    # The statistics are taken while nothing is being sent (as between two sends), then every
    # row is claimed: the plan must still reach the row by its id, not read the claimed rows.
    digest = sending_digest(readers=3000)
    snapshot.digest_snapshot(digest_id=digest.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    Delivery.objects.filter(digest=digest).update(state="sending", claimed_by="w:1")
    statement = record._POSTGRESQL.replace("%s", "${}").format(1, 2, 3, 4)
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE ledger_mark (text, timestamptz, bigint, text) AS {statement}")
        try:
            cursor.execute("EXPLAIN EXECUTE ledger_mark ('<m>', now(), 1, 'w:1')")
            plan = "\n".join(line for (line,) in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE ledger_mark")
            cursor.execute("RESET plan_cache_mode")
    assert "Index Cond: (id = $3)" in plan, plan


def test_a_claim_reads_only_its_part_s_ids_when_the_statistics_predate_the_digest(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Statistics taken before the send's snapshot (a new digest's rows unknown to the planner),
    # then half the rows sent: the claim of a later part must be bounded by its ids. Through
    # the old (digest, state) index PostgreSQL filtered the ids and read every pending row.
    digest = sending_digest(readers=0)
    if ON_POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    readers = Subscriber.objects.bulk_create(
        Subscriber(email=f"r{n}@example.com", public_id=f"p{n}") for n in range(3000)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=r, mailing_list=digest.mailing_list, state="active")
        for r in readers
    )
    with django_capture_on_commit_callbacks(execute=False):  # no batches queued
        snapshot.digest_snapshot(digest_id=digest.pk)
    ids = list(Delivery.objects.filter(digest=digest).order_by("pk").values_list("pk", flat=True))
    Delivery.objects.filter(pk__lt=ids[1500]).update(state="sent")
    part = (ids[2000], ids[2199])

    with statements_seen(connection) as statements:
        claimed_rows = claimed.rows_claim(
            digest_id=digest.pk, first_id=part[0], last_id=part[1], token="w:1", now=timezone.now()
        )
    ((sql, params),) = statements
    if ON_POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        bounded = any("Index Cond" in line and "(id >= " in line for line in plan.splitlines())
    else:
        plan = sqlite_plan(connection, sql.replace("%s", "?"), params)
        bounded = "id>? AND id<?" in plan or "rowid>? AND rowid<?" in plan

    assert [row.pk for row in claimed_rows] == ids[2000:2200]
    assert bounded, plan
