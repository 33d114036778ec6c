"""Turns at writing the SQLite file: one process at a time, each worker process its own lock.

Real processes (forked, as Celery's pool forks its children) and the real lock file; whether a
process holds the turn is read with a non-blocking `flock` on the same file, which fails
exactly while another open file holds it.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from django.db import connection

from operations.sqlite_turns import _lock_fd, _lock_open, lock_path, write_turn

_FORK = multiprocessing.get_context("fork")
_sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite pass only (the default DATABASE_URL)"
)


def _lock_path() -> Path:
    path = lock_path(connection)
    assert path is not None
    return path


def _turn_is_free() -> bool:
    fd = os.open(_lock_path(), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the descriptor also drops a lock taken on it
    return True


def _hold_turn(pipe: Connection) -> None:
    with write_turn(connection):
        pipe.send("holding")
        pipe.recv()  # until the test says "release"
    pipe.send("released")


@pytest.fixture
def holder() -> Iterator[Connection]:
    """A forked process holding the turn until it is sent "release"."""
    ours, theirs = _FORK.Pipe()
    child = _FORK.Process(target=_hold_turn, args=(theirs,))
    child.start()
    try:
        assert ours.recv() == "holding"
        yield ours
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


@_sqlite_only
@pytest.mark.django_db
def test_a_process_holding_the_turn_keeps_the_others_out_until_it_is_done(
    holder: Connection,
) -> None:
    assert _lock_path().parent == Path(str(connection.settings_dict["NAME"])).parent
    assert not _turn_is_free()
    holder.send("release")
    assert holder.recv() == "released"
    assert _turn_is_free()


def _try_turn_in_child(pipe: Connection) -> None:
    # What a pool child does first: look up its lock file's descriptor, then take the turn.
    fd = _lock_fd(connection)
    assert fd is not None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pipe.send("kept out")
    else:
        pipe.send("got the turn")


@_sqlite_only
@pytest.mark.django_db
def test_a_forked_child_does_not_share_its_parent_s_turn() -> None:
    # A descriptor inherited across fork shares its lock: a child that used the parent's would
    # "take" a turn the parent holds. Each process must open the lock file itself.
    ours, theirs = _FORK.Pipe()
    with write_turn(connection):
        child = _FORK.Process(target=_try_turn_in_child, args=(theirs,))
        child.start()
        answer = ours.recv()
        child.join(timeout=10)
    assert answer == "kept out"


@pytest.mark.django_db
def test_turns_are_taken_on_sqlite_only() -> None:
    if connection.vendor == "sqlite":
        assert _lock_fd(connection) is not None
        assert _lock_path().exists()
    else:
        assert lock_path(connection) is None
        assert _lock_fd(connection) is None
        with write_turn(connection):  # a no-op: nothing to open, nothing to wait for
            pass


def test_a_lock_file_that_cannot_be_opened_means_writing_without_turns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Another user's file or a read-only directory: SQLite's busy handler does the waiting, as
    # for the web process; the write itself must not fail.
    missing = tmp_path / "no such directory" / "db.sqlite3-writers.lock"
    with caplog.at_level("WARNING", logger="operations.sqlite_turns"):
        assert _lock_open(missing) is None
    assert "without turns" in caplog.text
    opened = _lock_open(tmp_path / "db.sqlite3-writers.lock")
    assert opened is not None
    os.close(opened)
