"""Settings for fault tests that wait on beat ticks and backoffs: seconds instead of minutes.

Only the waits are shorter; what happens at each tick is the product's own.
"""

from config.settings import *  # noqa: F403 - the real settings, with the clocks turned faster
from config.settings import CELERY_BEAT_SCHEDULE

DELIVERY_RETRY_BASE_SECONDS = 1
DELIVERY_HALT_SECONDS = 2
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "dispatch-due-digests": {"task": "newsletters.tasks.dispatch_due_digests", "schedule": 1.0},
    "reconcile-deliveries": {"task": "newsletters.tasks.reconcile_deliveries", "schedule": 2.0},
    "prepare-editions": {"task": "newsletters.tasks.prepare_editions", "schedule": 2.0},
}
