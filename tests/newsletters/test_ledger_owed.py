"""Whether a digest still owes anything: the question each batch asks when it ends."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from newsletters.delivery import ledger, snapshot
from newsletters.models import Delivery, Digest
from tests.newsletters.digests import sending_digest
from tests.statements_seen import sqlite_plan, statements_seen

pytestmark = pytest.mark.django_db
Row = Delivery.State


def test_the_owed_range_holds_pending_and_sending_and_nothing_else() -> None:
    low, high = ledger.OWED
    assert {state for state in Row.values if low <= state <= high} == {Row.PENDING, Row.SENDING}


def _snapshotted(
    readers: int, capture_on_commit: Any, email: str = "reader{n}@example.com"
) -> Digest:
    digest = sending_digest(readers=readers, email=email)
    with capture_on_commit(execute=False):  # no batches queued
        snapshot.digest_snapshot(digest_id=digest.pk)
    return digest


@pytest.mark.parametrize(
    ("states", "owes"),
    [
        ([Row.SENT, Row.PENDING], True),
        ([Row.SENDING, Row.FAILED], True),
        ([Row.SENT, Row.FAILED, Row.SKIPPED], False),
    ],
)
def test_a_digest_owes_while_a_row_is_pending_or_sending(
    states: list[str], owes: bool, django_capture_on_commit_callbacks
) -> None:
    digest = _snapshotted(len(states), django_capture_on_commit_callbacks)
    # Another digest's pending row is not this one's.
    other = _snapshotted(1, django_capture_on_commit_callbacks, email="other{n}@example.com")
    rows = Delivery.objects.filter(digest=digest).order_by("pk").values_list("pk", flat=True)
    for pk, state in zip(list(rows), states, strict=True):
        Delivery.objects.filter(pk=pk).update(state=state)

    assert ledger.digest_owes_anything(digest_id=digest.pk) is owes
    assert ledger.digest_finish_if_done(digest_id=digest.pk) is not owes
    assert ledger.digest_owes_anything(digest_id=other.pk)


def test_the_question_walks_the_digest_state_index_even_when_statistics_say_all_is_owed(
    django_capture_on_commit_callbacks,
) -> None:
    # Statistics taken while every row was pending, then most rows sent: what a send's ledger
    # looks like to the planner halfway. EXISTS of `state IN (…)` was a sequential scan here on
    # PostgreSQL, reading every sent row before the first owed one (SQLite plans by the query's
    # shape and took the index either way).
    digest = _snapshotted(3000, django_capture_on_commit_callbacks)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    first_owed = Delivery.objects.filter(digest=digest).order_by("pk")[2900].pk
    Delivery.objects.filter(digest=digest, pk__lt=first_owed).update(state=Row.SENT)

    with statements_seen(connection) as statements:
        assert ledger.digest_owes_anything(digest_id=digest.pk)
    ((sql, params),) = statements
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = " | ".join(line for (line,) in cursor.fetchall())
    else:
        plan = sqlite_plan(connection, sql.replace("%s", "?"), params)

    assert "delivery_digest_state" in plan
    assert "Seq Scan" not in plan and "SCAN newsletters_delivery" not in plan
