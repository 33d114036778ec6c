"""The signup POST's one write: a SignupRequest row, INSERTed straight through the driver.

It runs on every signup, the busiest public write, so it skips what the ORM spends per row (the
model instance, its signals, compiling the SQL: three times the INSERT itself) and, like the
ledger's sent mark, Django's cursor wrapper too (operations/driver_statements.py): a prepared
statement on PostgreSQL, one the sqlite3 module keeps compiled on SQLite. The values that need it go
through their field's own `get_db_prep_save`, so the row is stored exactly as the ORM would.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from mailinglist.models import SignupRequest
from operations.driver_statements import driver_execute

_COLUMNS = (
    "email",
    "name",
    "list_slugs",
    "source",
    "ip",
    "user_agent",
    "source_url",
    "form_version",
    "created_at",
)
# The columns whose Python value is not what the database driver takes as it is (JSON text, a
# timestamp in the database's time zone, an address); the others are strings the form cleaned.
_PREPARED = frozenset({"list_slugs", "ip", "created_at"})


def signup_request_insert(**values: Any) -> None:
    """INSERT one SignupRequest row with the values the signup form validated."""
    values["created_at"] = timezone.now()
    params = [
        field.get_db_prep_save(values[name], connection) if field else values[name]
        for name, field in _columns()
    ]
    driver_execute(connection, postgresql=_insert_sql("%s"), sqlite=_insert_sql("?"), params=params)


@functools.cache
def _columns() -> tuple[tuple[str, Field[Any, Any] | None], ...]:
    return tuple((name, _field(name) if name in _PREPARED else None) for name in _COLUMNS)


def _field(name: str) -> Field[Any, Any]:
    field = SignupRequest._meta.get_field(name)
    assert isinstance(field, Field)
    return field


@functools.cache
def _insert_sql(mark: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(name).column) for name in _COLUMNS)
    placeholders = ", ".join([mark] * len(_COLUMNS))
    table = quote(SignupRequest._meta.db_table)
    # Names from the model's own meta, quoted; every value is a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
