"""The Celery application.

Run by the Procfile: one worker per kind of queue (`-Q transactional`, `-Q bulk,default`,
`-Q long`) and exactly one `celery -A config beat`.

All of its configuration lives in settings.py under the CELERY_ prefix, read top to bottom with the
rest; this module only wires Celery to Django and adds the worker heartbeat that /healthz reads.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("newsdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes the database connection before and after every task, whatever
# CONN_MAX_AGE says (celery/celery#9824 reverted honouring it): every batch of a digest paid a
# new PostgreSQL connection — a backend forked, its catalogue caches cold, the sent mark prepared
# again — ~25 a second in a send. Its own closing is switched off here (it would close only every
# sys.maxsize tasks) and Django's rule for a request applies to a task instead.
app.conf.update(CELERY_DB_REUSE_MAX=sys.maxsize)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_tidy(sender: Any = None, **kwargs: Any) -> None:
    """Close the connections a task must not inherit: past CONN_MAX_AGE (0 under DEBUG, else
    60 s), broken by an error, or left outside autocommit."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline by its caller, inside the caller's own connection and transaction
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_init.connect
def connections_checked(**kwargs: Any) -> None:
    """A kept connection the server dropped between tasks (a restart, a failover, an idle
    timeout) is replaced at the next task's first query instead of failing that task. Workers
    only: for a web request the check would be one more round trip, and a request's rare
    failure is the reader's to retry; for a batch it is one query in 200 messages."""
    from django.conf import settings

    settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def _add_worker_heartbeat() -> None:
    # Imported late: the step module reads Django settings, which must not load while this
    # module is first imported by config/__init__.py.
    from operations.heartbeat import WorkerHeartbeat

    app.steps["worker"].add(WorkerHeartbeat)


_add_worker_heartbeat()
