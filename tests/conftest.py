"""Fixtures shared by the whole suite: the SMTP sink, a real Celery worker, a staff user."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from config.celery_app import app as celery_app
from tests.smtp_sink import SmtpSink
from tests.worker_process import WorkerProcess, database_url, shared_worker_name

# The session's worker once a test has started it; the flush guard below never starts one.
_STARTED_WORKERS: list[WorkerProcess] = []


@pytest.fixture(scope="session")
def _smtp_sink_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(_smtp_sink_server: SmtpSink) -> SmtpSink:
    """The session's SMTP sink, emptied for this test."""
    _smtp_sink_server.clear()
    return _smtp_sink_server


@pytest.fixture(scope="session")
def _worker_process(
    django_db_setup: Any, django_db_blocker: Any, _smtp_sink_server: SmtpSink
) -> Iterator[WorkerProcess]:
    from django.db import connection

    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DEBUG": "on",
        "DATABASE_URL": db_url,
        "EMAIL_URL": _smtp_sink_server.url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    # Tasks left in the test queues by an interrupted run refer to rows that no longer exist.
    celery_app.control.purge()
    worker = WorkerProcess(env=env, name=shared_worker_name())
    worker.start()
    _STARTED_WORKERS.append(worker)
    yield worker
    _STARTED_WORKERS.remove(worker)
    worker.stop()


@pytest.fixture
def celery_worker(_worker_process: WorkerProcess, transactional_db: None) -> WorkerProcess:
    """A real Celery worker process sharing this test's database (rows must be committed)."""
    if _worker_process.process is None or _worker_process.process.poll() is not None:
        pytest.fail(f"the Celery worker died:\n{_worker_process.log_tail()}")
    return _worker_process


@pytest.fixture(autouse=True)
def _worker_quiet_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """A transactional test's database is flushed only once the shared worker is idle.

    The worker outlives each test and picks up whatever a test enqueued (a signup's
    confirmation, say) even when the test did not ask for it.
    """
    if "transactional_db" not in request.fixturenames:
        yield
        return
    # Set up here so that this fixture's teardown runs before the flush.
    request.getfixturevalue("transactional_db")
    yield
    for worker in _STARTED_WORKERS:
        worker.wait_until_idle()


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
