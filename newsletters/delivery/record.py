"""Recording one accepted message in the ledger the moment the server accepts it.

One UPDATE, committed on its own and conditional on the claim still being the batch's (a row
the reconciler took back, or a webhook already failed, is left as it is). Committing each
message, rather than a group of 20 together, is what bounds a crash to the messages on the wire.
Its cost is measured by `make bench` (`ledger_record`, and `send_rate` end to end) and written
down in docs/performance.md.

It runs once per message, so it goes to the driver directly (operations/driver_statements.py):
a prepared statement on PostgreSQL, one the sqlite3 module keeps compiled on SQLite. The batch's
commit mode (commit_mode.py) applies to it as to any statement of the session.

On PostgreSQL a batch does not wait for the mark's reply before writing the next message
(`SentMarks`): the mark leaves first, the next message's content follows, and the mark's reply is
read with the SMTP server's. A mark that has left is applied by the server even if the worker
dies next, but a network can still lose it with the worker, so at a kill a connection may have two
messages accepted and not recorded instead of one: `unrecorded_per_connection`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from newsletters.models import Delivery
from operations.driver_statements import Deferred, driver_execute, driver_send
from operations.sqlite_turns import write_turn

_SQL = """
    UPDATE {table} SET state = 'sent', attempts = attempts + 1,
        message_id = {mark}, sent_at = {mark}, last_error = '', claimed_by = ''
    WHERE id = {mark} AND claimed_by = {mark} AND state = 'sending'
"""
_TABLE = Delivery._meta.db_table
_POSTGRESQL = _SQL.format(table=_TABLE, mark="%s")
_SQLITE = _SQL.format(table=_TABLE, mark="?")
# libpq's own form, for the mark sent without waiting: numbered placeholders, typed text values.
_LIBPQ = _SQL.format(table=_TABLE, mark="{}").format("$1", "$2", "$3", "$4").encode()
_TEXT, _TIMESTAMPTZ, _INT8 = 25, 1184, 20


def unrecorded_per_connection(vendor: str) -> int:
    """Messages a killed worker may have had accepted per connection without their sent mark."""
    return 2 if vendor == "postgresql" else 1


def sent_record(*, row_id: int, claimed_by: str, message_id: str) -> int:
    """Mark the row sent with its Message-ID now; 1 if it was still ours, else 0."""
    # The thread's connection, looked up once: `django.db.connection` is a proxy that looks it
    # up again for every attribute, a few microseconds a message each.
    db = connections[DEFAULT_DB_ALIAS]
    sent_at = db.ops.adapt_datetimefield_value(timezone.now())
    with write_turn(db):  # SQLite: the other workers' marks wait their turn without sleeping
        return driver_execute(
            db,
            postgresql=_POSTGRESQL,
            sqlite=_SQLITE,
            params=(message_id, sent_at, row_id, claimed_by),
        )


class SentMarks:
    """A batch's sent marks, at most one of them unanswered (PostgreSQL).

    `mark` sends a row's mark; its reply is read by `settle`, which the batch calls once the next
    message's content is written, and which runs before any other statement of the thread (an
    execute wrapper, for as long as the `marking` block lasts). `sent` counts the rows that were
    still the batch's.
    """

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        self.db = db
        self.sent = 0
        self._waiting: Deferred | None = None

    def mark(self, *, row_id: int, claimed_by: str, message_id: str) -> None:
        self.settle()
        sent_at = timezone.now().isoformat().encode()
        self._waiting = driver_send(
            self.db,
            name=b"newsdesk_sent_mark",
            sql=_LIBPQ,
            types=(_TEXT, _TIMESTAMPTZ, _INT8, _TEXT),
            params=(message_id.encode(), sent_at, str(row_id).encode(), claimed_by.encode()),
        )
        if self._waiting is None:  # SQLite, or inside a transaction: the ordinary way
            self.sent += sent_record(row_id=row_id, claimed_by=claimed_by, message_id=message_id)

    def settle(self) -> None:
        """Read the unanswered mark's reply, if there is one."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.sent += waiting.reply()

    def _before_any_statement(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.settle()
        return execute(sql, params, many, context)


@contextlib.contextmanager
def marking() -> Iterator[SentMarks]:
    """A batch's `SentMarks`; every mark is answered when the block ends, however it ends."""
    marks = SentMarks(connections[DEFAULT_DB_ALIAS])
    try:
        with marks.db.execute_wrapper(marks._before_any_statement):
            yield marks
    except BaseException:
        # Already failing: the first error is the one to report; a lost connection is closed
        # by Django and the reconciler takes the claim back.
        with contextlib.suppress(DatabaseError):
            marks.settle()
        raise
    marks.settle()
