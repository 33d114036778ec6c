"""Statements run on the database driver's own cursor, for the few writes made per message.

The ledger's sent mark (one per message sent) and the signup POST's INSERT (one per signup) go
past Django's cursor wrapper, but still under Django's connection (its error wrapping, its
reconnects): on PostgreSQL a statement prepared once per connection with server-side parameters
(psycopg's client-side binding, Django's default, formatted the whole statement every time and
the server parsed and planned it again), on SQLite one the sqlite3 module keeps compiled. The
caller writes the SQL for each driver's placeholder and adapts its own values.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

# Per thread (as Django's connections are) and per database alias: the driver connection and a
# cursor on it, made again whenever Django opened a new connection.
_held = threading.local()


def driver_execute(
    db: BaseDatabaseWrapper, *, postgresql: str, sqlite: str, params: Sequence[Any]
) -> int:
    """Run one statement on `db`'s driver cursor; the number of rows it touched."""
    with db.wrap_database_errors:
        cursor = _driver_cursor(db)
        if db.vendor == "postgresql":
            cursor.execute(postgresql, params, prepare=_prepare(db))
        else:
            cursor.execute(sqlite, params)
        return int(cursor.rowcount)


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
        else:
            held = (raw, raw.cursor())
        setattr(_held, db.alias, held)
    return held[1]


def _prepare(db: BaseDatabaseWrapper) -> bool:
    # OPTIONS {"prepare_threshold": None} is psycopg's way to say "no prepared statements" (a
    # PgBouncer in transaction mode without max_prepared_statements): honoured here too.
    options = db.settings_dict.get("OPTIONS") or {}
    return not ("prepare_threshold" in options and options["prepare_threshold"] is None)
