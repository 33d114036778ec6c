"""Statements run on the database driver's own cursor, for the few run per message or group.

The ledger's sent mark (one per message sent), a batch's checks before each group and the
signup POST's INSERT (one per signup) go past Django's cursor wrapper, but still under Django's
connection (its error wrapping, its reconnects, its execute wrappers): on PostgreSQL a statement
prepared once per connection with server-side parameters (psycopg's client-side binding, Django's
default, formatted the whole statement every time and the server parsed and planned it again),
on SQLite one the sqlite3 module keeps compiled. The caller writes the SQL for each driver's
placeholder and adapts its own values.
"""

from __future__ import annotations

import functools
import select
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

# Per thread (as Django's connections are) and per database alias: the driver connection and a
# cursor on it, made again whenever Django opened a new connection.
_held = threading.local()


def driver_execute(
    db: BaseDatabaseWrapper, *, postgresql: str, sqlite: str, params: Sequence[Any]
) -> int:
    """Run one statement on `db`'s driver cursor; the number of rows it touched."""
    return int(_run(db, postgresql=postgresql, sqlite=sqlite, params=params).rowcount)


def driver_fetch(
    db: BaseDatabaseWrapper, *, postgresql: str, sqlite: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Run one query on `db`'s driver cursor; its rows."""
    return list(_run(db, postgresql=postgresql, sqlite=sqlite, params=params).fetchall())


def _run(db: BaseDatabaseWrapper, *, postgresql: str, sqlite: str, params: Sequence[Any]) -> Any:
    with db.wrap_database_errors:
        cursor = _driver_cursor(db)
        if db.vendor == "postgresql":
            sql, options = postgresql, {"prepare": _prepare(db)}
        else:
            sql, options = sqlite, {}

        def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
            return cursor.execute(sql, params, **options)

        # The connection's execute wrappers still see these statements, as they see Django's
        # own: record.SentMarks reads an unanswered mark's reply in one before anything else.
        run: Callable[..., Any] = execute
        for wrapper in reversed(db.execute_wrappers):
            run = functools.partial(wrapper, run)
        run(sql, params, False, {"connection": db, "cursor": cursor})
        return cursor


def _driver_cursor(db: BaseDatabaseWrapper) -> Any:
    db.ensure_connection()
    raw = db.connection
    held = getattr(_held, db.alias, None)
    if held is None or held[0] is not raw:
        if db.vendor == "postgresql":
            import psycopg

            # Not the connection's own ClientCursor: server-side binding is what lets the
            # statement be prepared once per connection.
            held = (raw, psycopg.Cursor(raw))
            if _prepare(db) and raw.prepare_threshold is None:
                # Django connects with psycopg's preparing off (its default, for poolers), and
                # psycopg then ignores `prepare=True`. A threshold no count reaches lets only
                # the statements asked for here be prepared; Django's ClientCursor never is.
                raw.prepare_threshold = sys.maxsize
        else:
            held = (raw, raw.cursor())
        setattr(_held, db.alias, held)
    return held[1]


def _prepare(db: BaseDatabaseWrapper) -> bool:
    # OPTIONS {"prepare_threshold": None} is psycopg's way to say "no prepared statements" (a
    # PgBouncer in transaction mode without max_prepared_statements): honoured here too.
    options = db.settings_dict.get("OPTIONS") or {}
    return not ("prepare_threshold" in options and options["prepare_threshold"] is None)


class Deferred:
    """One statement sent on PostgreSQL's connection whose reply is read later (`reply`).

    libpq's asynchronous API under Django's connection: the statement leaves at once, the caller
    does other I/O (the next SMTP write) while the server runs it, and `reply` then finds the
    answer already there. Until `reply` is called nothing else may use the connection; the
    caller guarantees that (record.SentMarks reads it before any other statement).
    """

    __slots__ = ("_db", "_pgconn")

    def __init__(self, db: BaseDatabaseWrapper, pgconn: Any) -> None:
        self._db, self._pgconn = db, pgconn

    def reply(self) -> int:
        """Wait for the statement's answer; the number of rows it touched."""
        from psycopg import errors, pq

        pgconn = self._pgconn
        with self._db.wrap_database_errors:
            pgconn.consume_input()
            while pgconn.is_busy():
                # Wait outside the GIL (the claim's keeper thread runs meanwhile).
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            # Every result is read before any is judged: the connection is free again either way.
            results = []
            while (result := pgconn.get_result()) is not None:
                results.append(result)
            for result in results:
                if result.status != pq.ExecStatus.COMMAND_OK:
                    raise _failure(pgconn, result, encoding=self._db.connection.info.encoding)
            if not results:
                raise errors.OperationalError("the database connection was lost")
        return sum(result.command_tuples or 0 for result in results)


def driver_send(
    db: BaseDatabaseWrapper,
    *,
    name: bytes,
    sql: bytes,
    types: Sequence[int],
    params: Sequence[bytes],
) -> Deferred | None:
    """Send one statement ($1, $2 … placeholders, text parameters) without waiting for it.

    PostgreSQL only, and only in autocommit outside any transaction (a statement left unread
    inside one would hold its locks while the caller talks to someone else): None otherwise,
    and the caller runs the statement the ordinary way. Prepared once per connection as `name`,
    unless the connection must not prepare (see `_prepare`).
    """
    if db.vendor != "postgresql" or db.in_atomic_block or not db.get_autocommit():
        return None
    with db.wrap_database_errors:
        db.ensure_connection()
        pgconn = db.connection.pgconn
        if not _prepare(db):
            pgconn.send_query_params(sql, params, param_types=types)
        else:
            prepared = getattr(_held, "prepared", None)
            if prepared is None or prepared[0] is not pgconn:
                prepared = (pgconn, set[bytes]())
                _held.prepared = prepared
            if name not in prepared[1]:
                _prepare_now(pgconn, name=name, sql=sql, types=types)
                prepared[1].add(name)
            pgconn.send_query_prepared(name, params)
        # psycopg runs libpq in nonblocking mode: what did not fit the socket's buffer is
        # written here (a statement this small always fits an idle connection's).
        while pgconn.flush():
            select.select([], [pgconn.socket], [])
    return Deferred(db, pgconn)


def _prepare_now(pgconn: Any, *, name: bytes, sql: bytes, types: Sequence[int]) -> None:
    from psycopg import pq

    result = pgconn.prepare(name, sql, types)
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise _failure(pgconn, result)


def _failure(pgconn: Any, result: Any, *, encoding: str = "utf-8") -> Exception:
    """psycopg's error for a failed result: its SQLSTATE's class, or a lost connection's."""
    from psycopg import errors, pq

    if pgconn.status == pq.ConnStatus.BAD:
        message = (pgconn.error_message or b"the database connection was lost").decode(
            errors="replace"
        )
        return errors.OperationalError(message.strip())
    return errors.error_from_result(result, encoding=encoding)
