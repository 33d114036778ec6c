"""Recording one accepted message in the ledger the moment the server accepts it.

One UPDATE, committed on its own and conditional on the claim still being the batch's (a row
the reconciler took back, or a webhook already failed, is left as it is). Committing each
message, rather than a group of 20 together, is what bounds a crash to the message on the wire.
Its cost is measured by `make bench` (`ledger_record`, and `send_rate` end to end) and written
down in docs/performance.md.

It runs once per message, so it goes to the driver directly, under Django's connection (its
error wrapping, its reconnects) but past its cursor wrapper: on PostgreSQL a prepared statement
with server-side parameters (psycopg's client-side binding formatted the whole statement for
every message, and the server parsed and planned it again); on SQLite a statement that the
sqlite3 module keeps compiled. The batch's commit mode (commit_mode.py) applies to it as to any
statement of the session.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from newsletters.models import Delivery

_SQL = """
    UPDATE {table} SET state = 'sent', attempts = attempts + 1,
        message_id = {mark}, sent_at = {mark}, last_error = '', claimed_by = ''
    WHERE id = {mark} AND claimed_by = {mark} AND state = 'sending'
"""
_POSTGRESQL = _SQL.format(table=Delivery._meta.db_table, mark="%s")
_SQLITE = _SQL.format(table=Delivery._meta.db_table, mark="?")

# (driver connection, its cursor): a new one whenever Django opened a new connection.
_cursor: tuple[Any, Any] | None = None


def _driver_cursor(db: BaseDatabaseWrapper) -> Any:
    global _cursor
    db.ensure_connection()
    raw = db.connection
    if _cursor is None or _cursor[0] is not raw:
        if db.vendor == "postgresql":
            import psycopg

            # Not the connection's own ClientCursor: server-side binding is what lets the
            # statement be prepared once per connection.
            _cursor = (raw, psycopg.Cursor(raw))
        else:
            _cursor = (raw, raw.cursor())
    return _cursor[1]


def _prepare(db: BaseDatabaseWrapper) -> bool:
    # OPTIONS {"prepare_threshold": None} is psycopg's way to say "no prepared statements" (a
    # PgBouncer in transaction mode without max_prepared_statements): honoured here too.
    options = db.settings_dict.get("OPTIONS") or {}
    return not ("prepare_threshold" in options and options["prepare_threshold"] is None)


def sent_record(*, row_id: int, claimed_by: str, message_id: str) -> int:
    """Mark the row sent with its Message-ID now; 1 if it was still ours, else 0."""
    # The thread's connection, looked up once: `django.db.connection` is a proxy that looks it
    # up again for every attribute, a few microseconds a message each.
    db = connections[DEFAULT_DB_ALIAS]
    with db.wrap_database_errors:
        cursor = _driver_cursor(db)
        if db.vendor == "postgresql":
            cursor.execute(
                _POSTGRESQL, (message_id, timezone.now(), row_id, claimed_by), prepare=_prepare(db)
            )
        else:
            sent_at = db.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(_SQLITE, (message_id, sent_at, row_id, claimed_by))
        return int(cursor.rowcount)
