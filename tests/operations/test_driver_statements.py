"""The driver's own statements: prepared once per connection on PostgreSQL, unless told not to.

Django connects with psycopg's preparing switched off, and psycopg then ignores a cursor's
`prepare=True` without a word: these tests read the server's own list of prepared statements.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from operations.driver_statements import driver_fetch

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="PostgreSQL pass only (DATABASE_URL=postgres://…)",
    ),
]
_MARKER = "SELECT %s::int + 1 AS driver_statement_test"


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    connection.close()
    yield
    connection.settings_dict.get("OPTIONS", {}).pop("prepare_threshold", None)
    connection.close()


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%driver_statement_test%"],
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_driver_query_is_prepared_once_and_django_s_own_are_not(fresh_connection: None) -> None:
    for n in range(3):
        assert driver_fetch(connection, postgresql=_MARKER, sqlite="", params=[n]) == [(n + 1,)]
    with connection.cursor() as cursor:
        for _ in range(10):  # more than psycopg's usual threshold of 5
            cursor.execute("SELECT 1 AS driver_statement_test_django")
    assert _prepared() == ["SELECT $1::int + 1 AS driver_statement_test"]


def test_with_prepare_threshold_none_nothing_is_prepared(fresh_connection: None) -> None:
    # OPTIONS {"prepare_threshold": None}: a PgBouncer in transaction mode.
    connection.settings_dict.setdefault("OPTIONS", {})["prepare_threshold"] = None
    for n in range(3):
        assert driver_fetch(connection, postgresql=_MARKER, sqlite="", params=[n]) == [(n + 1,)]
    assert _prepared() == []
