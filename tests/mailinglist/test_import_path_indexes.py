"""The audience tables carry no index that another one already covers (migration 0007)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from mailinglist.models import ConsentEvent, Subscriber, Subscription

pytestmark = pytest.mark.django_db
ON_POSTGRESQL = connection.vendor == "postgresql"


def _indexes(model: Any) -> dict[str, list[str]]:
    """Every index of the model's table by name (unique constraints' too, not the primary key's):
    its columns."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name: info["columns"]
        for name, info in found.items()
        if (info["index"] or info["unique"]) and not info["primary_key"]
    }


def test_a_subscription_s_reader_and_list_are_found_through_the_indexes_that_lead_with_them() -> (
    None
):
    leading = sorted(columns[0] for columns in _indexes(Subscription).values())
    # The unique (subscriber, list) and (list, state) lead with each; no single-column twins.
    assert leading.count("subscriber_id") == 1
    assert leading.count("mailing_list_id") == 1
    assert ["subscriber_id"] not in _indexes(Subscription).values()
    assert ["mailing_list_id"] not in _indexes(Subscription).values()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_no_pattern_twin_for_a_public_id_or_an_address_hash() -> None:
    for model, column in ((Subscriber, "public_id"), (ConsentEvent, "email_hash")):
        on_column = [name for name, columns in _indexes(model).items() if columns == [column]]
        assert len(on_column) == 1, (model, on_column)  # the one B-tree, no _like beside it
        assert not on_column[0].endswith("_like")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_lookups_by_reader_and_by_list_still_use_an_index() -> None:
    table = Subscription._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny test tables: ask what it *can* use
        plans = []
        for column in ("subscriber_id", "mailing_list_id"):
            cursor.execute(f"EXPLAIN SELECT id FROM {table} WHERE {column} = 1")  # noqa: S608
            plans.append(" ".join(line for (line,) in cursor.fetchall()))
    assert "subscription_once_per_list" in plans[0], plans[0]
    assert "subscription_list_state" in plans[1], plans[1]


@pytest.mark.django_db(transaction=True)
def test_the_migration_reverses_and_applies_again() -> None:
    before = {name: columns for name, columns in _indexes(Subscription).items()}
    call_command("migrate", "mailinglist", "0006", verbosity=0)
    restored = _indexes(Subscription)
    assert ["subscriber_id"] in restored.values() and ["mailing_list_id"] in restored.values()
    if ON_POSTGRESQL:
        assert any(name.endswith("_like") for name in _indexes(Subscriber))
    call_command("migrate", "mailinglist", verbosity=0)
    assert _indexes(Subscription) == before
