"""The Celery application.

Run by the Procfile: one worker per kind of queue (`-Q transactional`, `-Q bulk,default`,
`-Q long`) and exactly one `celery -A config beat`.

All of its configuration lives in settings.py under the CELERY_ prefix, read top to bottom with the
rest; this module only wires Celery to Django and adds the worker heartbeat that /healthz reads.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("newsdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _add_worker_heartbeat() -> None:
    # Imported late: the step module reads Django settings, which must not load while this
    # module is first imported by config/__init__.py.
    from operations.heartbeat import WorkerHeartbeat

    app.steps["worker"].add(WorkerHeartbeat)


_add_worker_heartbeat()
