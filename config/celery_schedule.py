"""Celery's queues, routes and beat schedule: which work waits behind which, and how often beat
ticks. Read by config/settings.py, kept here so the settings stay one screenful per concern."""

from __future__ import annotations

from kombu import Queue

# One queue per kind of wait (the Procfile gives each its own worker): `transactional` a reader or
# an editor is waiting for, `bulk` digest batches, `default` beat's ticks and short jobs, and `long`
# jobs that run for minutes (imports, ledger retention), so the dispatch tick and the reconciler
# never queue behind them.
CELERY_TASK_QUEUES = [Queue("transactional"), Queue("bulk"), Queue("default"), Queue("long")]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "operations.tasks.send_mail_check": {"queue": "transactional"},
    "mailinglist.tasks.*": {"queue": "transactional"},
    "mailinglist.tasks.sweep_signup_requests": {"queue": "default"},
    "mailinglist.tasks.import_subscribers": {"queue": "long"},
    # An import's thousands of confirmations never delay the one a reader on the site awaits.
    "mailinglist.tasks.send_confirmations": {"queue": "bulk"},
    # An editor is waiting for their test copy.
    "newsletters.tasks.send_test_digest": {"queue": "transactional"},
    "newsletters.tasks.notify_publisher": {"queue": "transactional"},
    "newsletters.tasks.send_batch": {"queue": "bulk"},
    # Deletes whole ledgers (a million rows a digest): minutes, hourly, and nobody waits for it.
    "newsletters.tasks.retain_deliveries": {"queue": "long"},
}
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {"task": "operations.tasks.record_beat_tick", "schedule": 30.0},
    # Signups a lost kick left behind (mailinglist/signup_drain.py); one query when there are none.
    "sweep-signup-requests": {"task": "mailinglist.tasks.sweep_signup_requests", "schedule": 30.0},
    "poll-feeds": {"task": "newsletters.tasks.poll_feeds", "schedule": 60.0},
    "prepare-editions": {"task": "newsletters.tasks.prepare_editions", "schedule": 60.0},
    "dispatch-due-digests": {"task": "newsletters.tasks.dispatch_due_digests", "schedule": 15.0},
    # Every 30 s: rows of a dead worker go back within a minute of its death.
    "reconcile-deliveries": {"task": "newsletters.tasks.reconcile_deliveries", "schedule": 30.0},
    "retain-deliveries": {"task": "newsletters.tasks.retain_deliveries", "schedule": 3600.0},
    # Does nothing unless BOUNCE_MAILBOX_URL is set.
    "fetch-bounces": {"task": "newsletters.tasks.fetch_bounces", "schedule": 60.0},
}
