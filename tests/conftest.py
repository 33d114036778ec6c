"""Fixtures shared by the whole suite: the SMTP sink, a real Celery worker, a staff user."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django.fixtures import validate_django_db

from config.celery_app import app as celery_app
from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker, database_url, shared_worker_name, suite_worker, worker_env

# The session's worker once a test has started it; the flush guard below never starts one.
_STARTED_WORKERS: list[Worker] = []


@pytest.fixture(scope="session")
def _smtp_sink_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def pipelining_sink(db: None) -> Iterator[SmtpSink]:
    """A sink of the test's own that offers PIPELINING, with the transport pointed at it.

    `db`: the transport reads the DKIM keys (none here) from the database before it sends.
    """
    from operations import transport
    from tests.mail_transport import transport_to

    server = SmtpSink(pipelining=True)
    server.start()
    with transport_to(server.port):
        yield server
    transport.transport_close()
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _sqlite_turns_file_removed(django_db_setup: Any) -> Iterator[None]:
    """The test database's lock file for turns at writing (operations/sqlite_turns.py) goes too.

    Django deletes the test database's file at the end of the run; the lock file beside it
    would otherwise be left in var/, one per run.
    """
    from django.db import connection

    from operations.sqlite_turns import lock_path

    path = lock_path(connection)
    yield
    if path is not None:
        path.unlink(missing_ok=True)


@pytest.fixture
def smtp_sink(_smtp_sink_server: SmtpSink) -> SmtpSink:
    """The session's SMTP sink, emptied for this test."""
    _smtp_sink_server.clear()
    return _smtp_sink_server


@pytest.fixture(scope="session")
def _worker_process(
    django_db_setup: Any, django_db_blocker: Any, _smtp_sink_server: SmtpSink
) -> Iterator[Worker]:
    from django.db import connection

    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    env = worker_env(db_url=db_url, email_url=_smtp_sink_server.url)
    # Tasks left in the test queues by an interrupted run refer to rows that no longer exist.
    celery_app.control.purge()
    worker = suite_worker(env=env, name=shared_worker_name())
    worker.start()
    _STARTED_WORKERS.append(worker)
    yield worker
    _STARTED_WORKERS.remove(worker)
    worker.stop()


@pytest.fixture
def celery_worker(_worker_process: Worker, transactional_db: None) -> Worker:
    """A real Celery worker process sharing this test's database (rows must be committed)."""
    if not _worker_process.alive():
        pytest.fail(f"the Celery worker died:\n{_worker_process.log_tail()}")
    return _worker_process


@pytest.fixture(autouse=True)
def _worker_quiet_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """A transactional test's database is flushed only once the shared worker is idle.

    The worker outlives each test and picks up whatever a test enqueued (a signup's
    confirmation, say) even when the test did not ask for it.
    """
    if not _flushed_after(request):
        yield
        return
    # pytest-django's helper flushes in its teardown: set up here first, so that this fixture's
    # teardown runs before it.
    request.getfixturevalue("_django_db_helper")
    yield
    for worker in _STARTED_WORKERS:
        worker.wait_until_idle()
    if _STARTED_WORKERS:
        _flush_outwaits_workers()


def _flushed_after(request: pytest.FixtureRequest) -> bool:
    """Whether the test's database is flushed after it (a transactional test), as pytest-django
    decides: the fixtures it asks for, or its marker (`django_db(transaction=True)`)."""
    if {"transactional_db", "live_server"} & set(request.fixturenames):
        return True
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return False
    transaction, reset_sequences, *_ = validate_django_db(marker)
    return transaction or reset_sequences


def _flush_outwaits_workers() -> None:
    """On PostgreSQL, a worker's statement that meets the flush is the one ended, not the flush.

    Waiting for an idle worker narrows the race but cannot close it: a task the test queued may
    be on its way to the worker (taken off the queue, not yet read) when the worker answers
    "idle". If it then locks a table the flush's TRUNCATE has yet to reach while waiting for one
    the TRUNCATE has taken, PostgreSQL ends whichever of the two waited `deadlock_timeout`
    first. The suite's connection waits longer (a superuser setting; CI connects as one), so it
    is the worker's statement that ends — its rows are being wiped anyway — and the flush goes
    through. The setting stays on the suite's connection for the tests after: in any deadlock
    with a worker, the suite's statement is the one that outwaits it.
    """
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '30s'")


@pytest.fixture(autouse=True)
def _fresh_signup_limits() -> Iterator[None]:
    """Each test starts with no rate-limit counters, confirmation slots or sending halts in Redis.

    Only those keys: flushing the database would also drop the broker's queues under a
    running worker.
    """
    _delete_signup_keys()
    yield
    _delete_signup_keys()


def _delete_signup_keys() -> None:
    from operations.redis_client import redis_client

    client = redis_client()
    # Signup counters and slots, and a sending halt (a server-wide fault) left by another test.
    for pattern in ("newsdesk:*signup:*", "newsdesk:halted:*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def staff_user(db: None) -> User:
    return User.objects.create_superuser(
        username="staff", email="staff@example.com", password="pw-for-tests-1"
    )
