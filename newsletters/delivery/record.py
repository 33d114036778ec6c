"""Recording one accepted message in the ledger the moment the server accepts it.

One UPDATE, committed on its own and conditional on the claim still being the batch's (a row
the reconciler took back, or a webhook already failed, is left as it is). Committing each
message, rather than a group of 20 together, is what bounds a crash to the message on the wire.
Its cost is measured by `make bench` (`ledger_record`, and `send_rate` end to end) and written
down in docs/performance.md.

It runs once per message, so it goes to the driver directly (operations/driver_statements.py):
a prepared statement on PostgreSQL, one the sqlite3 module keeps compiled on SQLite. The batch's
commit mode (commit_mode.py) applies to it as to any statement of the session.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from newsletters.models import Delivery
from operations.driver_statements import driver_execute

_SQL = """
    UPDATE {table} SET state = 'sent', attempts = attempts + 1,
        message_id = {mark}, sent_at = {mark}, last_error = '', claimed_by = ''
    WHERE id = {mark} AND claimed_by = {mark} AND state = 'sending'
"""
_POSTGRESQL = _SQL.format(table=Delivery._meta.db_table, mark="%s")
_SQLITE = _SQL.format(table=Delivery._meta.db_table, mark="?")


def sent_record(*, row_id: int, claimed_by: str, message_id: str) -> int:
    """Mark the row sent with its Message-ID now; 1 if it was still ours, else 0."""
    # The thread's connection, looked up once: `django.db.connection` is a proxy that looks it
    # up again for every attribute, a few microseconds a message each.
    db = connections[DEFAULT_DB_ALIAS]
    sent_at = db.ops.adapt_datetimefield_value(timezone.now())
    return driver_execute(
        db, postgresql=_POSTGRESQL, sqlite=_SQLITE, params=(message_id, sent_at, row_id, claimed_by)
    )
