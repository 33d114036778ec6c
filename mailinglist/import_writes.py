"""The set-based reads and writes of a CSV import: one statement per table per chunk.

An import of 100,000 rows spent most of its time in the ORM building a model instance, and
compiling SQL, per row and per field (#12). Here a chunk's values travel as one parameter per
column, which the database unpacks itself: a JSON array, read by `json_each` on SQLite and
`json_array_elements_text` on PostgreSQL, where new subscribers are streamed with COPY
(import_copy). Values that are the same for every row (the time, a consent event's JSON) are
adapted once.

Every INSERT that can meet a row someone else wrote says ON CONFLICT DO NOTHING (SQLite and
PostgreSQL both have it): a reader signing up while the import runs keeps the row they made, and
the import carries on with it. Rows that hang off a subscriber this chunk created cannot conflict,
and skip the check.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from mailinglist import import_copy
from mailinglist.models import ConsentEvent, Subscriber, Subscription, Suppression

EVENT_COLUMNS = (
    *("subscriber", "email_hash", "kind", "lists", "at"),
    *("user_agent", "source_url", "form_version", "detail"),
)


@dataclass(frozen=True)
class Known:
    """A subscriber the database already has, as much of it as an import needs."""

    pk: int
    name: str
    # Made by this transaction: nothing else can refer to it yet (no subscription, no event).
    new: bool = False


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field)  # a concrete column, never a reverse relation
    return found


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(str(_field(model, name).get_attname_column()[1]))


def _columns(model: type[Model], names: Sequence[str]) -> str:
    return ", ".join(_column(model, name) for name in names)


def _prepared(model: type[Model], name: str, value: Any) -> Any:
    """`value` as the driver takes it for field `name` (a datetime is text on SQLite, JSON is
    jsonb on PostgreSQL): adapted once, sent with every row."""
    return _field(model, name).get_db_prep_save(value, connection)


def _each(values: Sequence[Any], sql_type: str) -> tuple[str, Any]:
    """A subquery yielding `values` as a column named `value`, and its one parameter: a JSON
    array on both databases.

    On PostgreSQL a Python list would be an array, which psycopg adapts element by element
    (2 ms of the client's CPU for 2,000 addresses, against 0.2 ms for json.dumps), and the
    server then parses the array literal more slowly than the JSON.
    """
    if connection.vendor == "postgresql":
        return (
            f"SELECT value::{sql_type} AS value FROM json_array_elements_text(%s::json)",  # noqa: S608 - our own type names
            json.dumps(list(values)),
        )
    return "SELECT value FROM json_each(%s)", json.dumps(list(values))


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def suppressions_by_hash(hashes: Iterable[str]) -> dict[str, str]:
    """Which of `hashes` are on the suppression list: hash → reason."""
    each, param = _each(sorted(set(hashes)), "text")
    hash_column = _column(Suppression, "email_hash")
    sql = (
        f"SELECT {hash_column}, {_column(Suppression, 'reason')} FROM {_table(Suppression)} "  # noqa: S608 - our own names
        f"WHERE {hash_column} IN ({each})"
    )
    return dict(_fetch(sql, [param]))


def subscribers_by_key(keys: Iterable[str]) -> dict[str, Known]:
    """The subscribers whose address, lower-cased, is one of `keys`: key → (pk, name).

    The lookup uses the unique index on LOWER(email), so a chunk costs one indexed query.
    """
    wanted = list(keys)
    if not wanted:
        return {}
    each, param = _each(wanted, "text")
    email = _column(Subscriber, "email")
    sql = (
        f"SELECT LOWER({email}), {_column(Subscriber, 'id')}, {_column(Subscriber, 'name')} "  # noqa: S608 - our own names
        f"FROM {_table(Subscriber)} WHERE LOWER({email}) IN ({each})"
    )
    return {key: Known(pk=pk, name=name) for key, pk, name in _fetch(sql, [param])}


def subscription_states(*, subscriber_ids: Sequence[int], mailing_list_id: int) -> dict[int, str]:
    """The state of each of `subscriber_ids` that has a subscription to the list."""
    if not subscriber_ids:
        return {}
    each, param = _each(subscriber_ids, "bigint")
    subscriber = _column(Subscription, "subscriber")
    sql = (
        f"SELECT {subscriber}, {_column(Subscription, 'state')} FROM {_table(Subscription)} "  # noqa: S608 - our own names
        f"WHERE {_column(Subscription, 'mailing_list')} = %s AND {subscriber} IN ({each})"
    )
    return dict(_fetch(sql, [mailing_list_id, param]))


def _public_ids(count: int) -> list[str]:
    # What models.new_public_id makes (token_urlsafe(16)), from one read of the OS's randomness
    # rather than one per subscriber.
    pool = secrets.token_bytes(16 * count)
    return [
        base64.urlsafe_b64encode(pool[n : n + 16]).rstrip(b"=").decode("ascii")
        for n in range(0, 16 * count, 16)
    ]


def subscribers_insert(*, rows: Sequence[tuple[str, str, str]], now: datetime) -> dict[str, Known]:
    """Create a subscriber for each (email, email_hash, name) the database lacks; key → the
    subscriber now stored under that address.

    An address someone else stored meanwhile is returned as their row, with their name.
    """
    if not rows:
        return {}
    created_at = _prepared(Subscriber, "created_at", now)
    values = [
        (email, digest, name, public_id)
        for (email, digest, name), public_id in zip(rows, _public_ids(len(rows)), strict=True)
    ]
    names = ("email", "email_hash", "name", "public_id", "created_at")
    returning = f"RETURNING LOWER({_column(Subscriber, 'email')}), {_column(Subscriber, 'id')}"
    if connection.vendor == "postgresql":
        pk_column = str(_field(Subscriber, "id").get_attname_column()[1])
        ids = import_copy.ids_take(Subscriber._meta.db_table, pk_column, len(values))
        text = import_copy.copy_rows(
            ((pk, *row) for pk, row in zip(ids, values, strict=True)), fixed=(now,)
        )
        columns = _columns(Subscriber, ("id", *names))
        if import_copy.rows_copy_unless_taken(_table(Subscriber), columns, text):
            return {
                email.lower(): Known(pk=pk, name=name, new=True)
                for pk, (email, _, name) in zip(ids, rows, strict=True)
            }
        # Someone stored one of these addresses since the chunk was classified.
        inserted = _subscribers_copy(names, values, created_at, returning)
    else:
        sql = (
            f"INSERT INTO {_table(Subscriber)} ({_columns(Subscriber, names)}) "  # noqa: S608 - our own names
            "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, %s FROM json_each(%s) "
            f"WHERE true ON CONFLICT DO NOTHING {returning}"  # WHERE: SQLite's upsert syntax
        )
        inserted = _fetch(sql, [created_at, json.dumps(values)])
    names_by_key = {email.lower(): name for email, _, name in rows}
    created = {key: Known(pk=pk, name=names_by_key[key], new=True) for key, pk in inserted}
    missing = names_by_key.keys() - created.keys()
    return created | subscribers_by_key(missing)  # those a signup stored first


def _subscribers_copy(
    names: Sequence[str], values: list[tuple[str, str, str, str]], created_at: Any, returning: str
) -> list[tuple[Any, ...]]:
    # COPY has no ON CONFLICT: the rows go to a temporary table first, then one INSERT … SELECT
    # skips the addresses someone else stored meanwhile. Dropped at once, as a caller may run
    # several chunks in one transaction; ON COMMIT DROP cleans up after a failure.
    columns = _columns(Subscriber, names[:-1])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE import_subscribers_new ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {_table(Subscriber)} WITH NO DATA"
        )
        import_copy.rows_copy("import_subscribers_new", columns, import_copy.copy_rows(values))
        cursor.execute(
            f"INSERT INTO {_table(Subscriber)} ({_columns(Subscriber, names)}) "  # noqa: S608 - our own names
            f"SELECT {columns}, %s FROM import_subscribers_new ON CONFLICT DO NOTHING {returning}",
            [created_at],
        )
        inserted = list(cursor.fetchall())
        cursor.execute("DROP TABLE import_subscribers_new")
    return inserted


def subscriptions_insert(
    *,
    subscriber_ids: Sequence[int],
    mailing_list_id: int,
    state: str,
    now: datetime,
    confirmed: bool,
    new: bool = False,
) -> None:
    """Subscribe each of `subscriber_ids` to the list (source: import); an existing
    subscription, such as one a signup made a moment ago, is left as it is.

    `new`: the subscribers were made in this transaction (Known.new), so none of them can have
    a subscription yet and the insert skips ON CONFLICT's check of each row against the unique
    keys (on PostgreSQL 17 → 10 ms of the server's CPU per 2,000 rows, on the bench machine).
    """
    at = _prepared(Subscription, "created_at", now)
    names = ("subscriber", "mailing_list", "state", "source", "created_at", "requested_at")
    each, param = _each(subscriber_ids, "bigint")
    sql = (
        f"INSERT INTO {_table(Subscription)} ({_columns(Subscription, (*names, 'confirmed_at'))}) "  # noqa: S608 - our own names
        f"SELECT ids.value, %s, %s, %s, %s, %s, %s FROM ({each}) AS ids"
    )
    if not new:
        sql += " WHERE true ON CONFLICT DO NOTHING"  # WHERE: SQLite's upsert syntax
    source = Subscription.Source.IMPORT.value
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [mailing_list_id, state, source, at, at, at if confirmed else None, param]
        )


def consent_events_insert(
    *, subscriber_ids: Sequence[int], lists: list[str], detail: dict[str, Any], now: datetime
) -> None:
    """One IMPORT consent event per subscriber, all with the same `lists` and `detail`."""
    columns = _columns(ConsentEvent, EVENT_COLUMNS)
    each, param = _each(subscriber_ids, "bigint")
    sql = (
        f"INSERT INTO {_table(ConsentEvent)} ({columns}) "  # noqa: S608 - our own names
        f"SELECT ids.value, '', %s, %s, %s, '', '', '', %s FROM ({each}) AS ids"
    )
    params = [
        ConsentEvent.Kind.IMPORT.value,
        _prepared(ConsentEvent, "lists", lists),
        _prepared(ConsentEvent, "at", now),
        _prepared(ConsentEvent, "detail", detail),
        param,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def names_fill(names: dict[int, str]) -> None:
    """Give each subscriber in `names` that name, unless they have one."""
    if not names:
        return
    table = _table(Subscriber)
    name, pk = _column(Subscriber, "name"), _column(Subscriber, "id")
    with connection.cursor() as cursor:
        # name = '' in the WHERE clause: a name the reader set meanwhile is theirs to keep.
        cursor.executemany(
            f"UPDATE {table} SET {name} = %s WHERE {pk} = %s AND {name} = ''",  # noqa: S608
            [(value, subscriber_id) for subscriber_id, value in names.items()],
        )


def commit_unflushed() -> None:
    """Let the current transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For a consented import's chunks, on which nothing outside the database depends: see
    imports.import_job_run for what a crash of the server then undoes.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")
