"""Fault-test settings whose reconciler ticks only every ten minutes: a test that must finish
long before then proves the engine did not lean on the reconciler's safety net."""

from tests.fault_settings import *  # noqa: F403 - the fault tests' fast clocks
from tests.fault_settings import CELERY_BEAT_SCHEDULE as _FAST

CELERY_BEAT_SCHEDULE = {
    **_FAST,
    "reconcile-deliveries": {"task": "newsletters.tasks.reconcile_deliveries", "schedule": 600.0},
}
