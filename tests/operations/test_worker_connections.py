"""A worker keeps its database connection from task to task, as a web process does between
requests (CONN_MAX_AGE), and drops one that is too old or broken (config/celery_app.py).

The worker's side is driven as a worker drives it: Celery's own Django fixup and the task
signals, around real queries on the test database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import signals
from celery.fixups.django import DjangoWorkerFixup  # type: ignore[attr-defined]  # not in the stubs
from django.db import OperationalError, connection

from config.celery_app import app, connections_checked
from newsletters.tasks import send_batch

pytestmark = pytest.mark.django_db(transaction=True)
ON_POSTGRESQL = connection.vendor == "postgresql"


@pytest.fixture
def max_age(request: pytest.FixtureRequest) -> Iterator[int]:
    """CONN_MAX_AGE for this test, on a connection opened under it."""
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = request.param
    connection.close()
    yield request.param
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


def _task(query: str = "SELECT 1") -> Any:
    """One task's life around `query`, as a prefork worker runs it: the raw connection used."""
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_prerun(sender=send_batch)
    signals.task_prerun.send(sender=send_batch, task_id="t", task=send_batch, args=(), kwargs={})
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
        return connection.connection
    finally:
        fixup.on_task_postrun(sender=send_batch)
        signals.task_postrun.send(sender=send_batch, task_id="t", task=send_batch, retval=None)


@pytest.mark.parametrize("max_age", [60], indirect=True)
def test_with_a_max_age_tasks_share_one_connection(max_age: int) -> None:
    first = _task()
    assert connection.connection is first  # still open after the task
    assert _task() is first


@pytest.mark.parametrize("max_age", [0], indirect=True)
def test_without_one_each_task_has_its_own(max_age: int) -> None:
    first = _task()
    assert connection.connection is None
    assert _task() is not first


@pytest.fixture
def worker_settings() -> Iterator[None]:
    """The worker's own database setting, applied as its `worker_init` applies it."""
    before = connection.settings_dict["CONN_HEALTH_CHECKS"]
    connections_checked()
    yield
    connection.settings_dict["CONN_HEALTH_CHECKS"] = before


def _dropped_by_the_server() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
@pytest.mark.parametrize("max_age", [60], indirect=True)
def test_a_connection_the_server_dropped_is_replaced_without_failing_a_task(
    worker_settings: None, max_age: int
) -> None:
    first = _task()
    _dropped_by_the_server()
    # The health check: the next task's first query finds it dead and connects again.
    assert _task() is not first


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
@pytest.mark.parametrize("max_age", [60], indirect=True)
def test_outside_a_worker_a_kept_connection_is_not_checked(max_age: int) -> None:
    # A web request pays no health-check round trip: a dropped connection fails its next use.
    _task()
    _dropped_by_the_server()
    with pytest.raises(OperationalError):
        _task()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
@pytest.mark.parametrize("max_age", [60], indirect=True)
def test_a_task_that_broke_its_connection_leaves_it_closed(max_age: int) -> None:
    _task()
    # The task's own query ends its backend: it fails, and the connection is not kept.
    with pytest.raises(OperationalError):
        _task("SELECT pg_terminate_backend(pg_backend_pid())")
    assert connection.connection is None
