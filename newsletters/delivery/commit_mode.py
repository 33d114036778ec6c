"""How a batch's ledger writes are committed: at once, without waiting for the disk (PostgreSQL).

A batch commits every outcome the moment the server gives it (record.py), which is what bounds
a *worker's* crash to the message on the wire. On PostgreSQL with `synchronous_commit = on`,
each of those commits also waits for its WAL to reach the disk: measured on the bench machine,
an UPDATE's round trip costs ~0.2 ms and that wait ~0.9 ms more, which left the worker pool
blocked most of the time it was not sending.

So a batch's session runs with `synchronous_commit = off`. What that trades, exactly:
- A worker killed (SIGKILL, OOM, lost host) costs what it cost before: its commits reached the
  server, which applies them whether or not the client is still there.
- Every other session sees the writes at once, as before; only their durability waits up to
  three times `wal_writer_delay` (200 ms by default) for the WAL writer.
- A crash of the *database server* (or its machine) can lose the ledger writes of that last
  fraction of a second: rows that were sent go back to "sending" under their dead claim, the
  reconciler puts them back to pending, and they are sent again. That is a duplicate for those
  readers (at most the messages sent in that window, e.g. ~24 at 40 msgs/s, ~600 at 1,000/s),
  never a lost reader: a lost write can only undo progress, and anything that depends on a write
  being durable (the digest marked sent, an unsubscribe, a suppression: other sessions, committed
  synchronously) flushes the whole WAL before it, the ledger writes included.
SQLite runs with `synchronous=NORMAL` in WAL mode (config/settings.py), the same trade there: a
power cut, not a killed process, can undo the last commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import DatabaseError, connection


@contextlib.contextmanager
def ledger_commits_unflushed() -> Iterator[None]:
    """Run the block with this session's commits not waiting for the WAL flush (PostgreSQL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        # The connection outlives the task (CONN_MAX_AGE): the next task's writes are durable
        # again. A connection the batch lost is closed by Django and starts afresh anyway.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
