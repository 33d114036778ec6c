"""Turns at writing one SQLite file, for the writes a send makes per message.

SQLite lets one connection write at a time. A connection that finds the file's write lock taken
waits in SQLite's busy handler, which sleeps: 1 ms first, then 2, 5, 10… whatever the holder
needed (a sent mark holds it for tens of microseconds). With two worker processes marking
thousands of messages a second, a few percent of marks met the other's and slept a whole
millisecond or more each (measured in the send benchmark: docs/performance.md).

So the writers that write per message take turns on an operating-system lock beside the
database file first (`flock`): a waiter is woken the moment the holder is done, and SQLite's
lock is then free. It costs two system calls per write. Writers that do not take turns (the web
process, the admin) still meet SQLite's busy handler, as before; they write rarely. The kernel
drops the lock with a process that dies holding it, so a killed worker never blocks the others.
Nothing depends on the turns for correctness: SQLite's own lock still guards every write, and a
lock file deleted under running processes only brings the sleeps back.
PostgreSQL (and SQLite in memory, one connection) needs none of this: a no-op there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

# Per thread, as Django's connections are: the lock file's descriptor for each database file,
# and the process that opened it. A descriptor inherited across a fork (Celery's pool) shares
# its lock with the parent and every sibling, so each process opens its own.
_held = threading.local()


def lock_path(db: BaseDatabaseWrapper) -> Path | None:
    """The lock file beside `db`'s SQLite file; None for PostgreSQL and SQLite in memory."""
    if db.vendor != "sqlite":
        return None
    name = str(db.settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        return None
    # A file of its own: opening and closing the database file itself would drop SQLite's own
    # (POSIX) locks on it, which belong to the process, not to a descriptor.
    return Path(f"{name}-writers.lock")


def _lock_fd(db: BaseDatabaseWrapper) -> int | None:
    if db.vendor != "sqlite":
        return None  # first, and cheap: PostgreSQL's claims (and marks in a transaction) pass here
    pid = os.getpid()
    files: dict[str, int | None] = getattr(_held, "files", None) or {}
    if getattr(_held, "pid", None) != pid:
        files, _held.pid = {}, pid  # forked: the parent's descriptors are not this process's
    _held.files = files
    name = str(db.settings_dict["NAME"])
    if name not in files:
        files[name] = _lock_open(lock_path(db))
    return files[name]


def _lock_open(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        # Readable and writable as the umask allows, as SQLite makes its -wal and -shm files:
        # the web process and the workers may run as different users of one group.
        return os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o666)
    except OSError as refused:
        # Another user's file, a read-only directory: this process writes without turns, as
        # the web process does, and SQLite's busy handler does the waiting.
        logger.warning("SQLite writes without turns: cannot open %s (%s)", path, refused)
        return None


@contextlib.contextmanager
def write_turn(db: BaseDatabaseWrapper) -> Iterator[None]:
    """Hold this process's turn at writing `db`'s SQLite file for the block (else a no-op)."""
    fd = _lock_fd(db)
    if fd is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
