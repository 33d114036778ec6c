"""Thin Celery adapters over the audience's domain functions: ids in, one call each.

Queues come from CELERY_TASK_ROUTES: everything here is `transactional` (a reader is waiting)
except the housekeeping tick, which goes to `default`, CSV imports, which run for minutes on
`long`, and an import's batches of confirmations, on `bulk`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec

from celery import Task, shared_task

from mailinglist import confirmation_batches, imports, mailings, signup_drain, subscriptions
from operations.transport import TransportFailure

P = ParamSpec("P")


def mail_task(func: Callable[P, None]) -> Task[P, None]:
    """A task that sends a reader a mail: one retry policy for all of them.

    Only what may go through later is retried (a server down, a 4xx): mailings.py settles a
    refusal for good and raises nothing for it. The pauses grow, jittered, and stay short (at
    most 5 min), well under the broker's visibility timeout.
    """
    return shared_task(
        acks_late=True,
        autoretry_for=(TransportFailure,),
        retry_backoff=15,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=6,
    )(func)


@shared_task(acks_late=True)
def drain_signups() -> None:
    signup_drain.signup_requests_drain()


# Signups are drained now (signup_drain.py); this stays for tasks queued by an older release.
@shared_task(acks_late=True)
def process_signup(request_id: int) -> None:
    subscriptions.signup_request_process(request_id=request_id)


@mail_task
def send_confirmation(subscriber_id: int, list_ids: list[int]) -> None:
    mailings.confirmation_mail_send(subscriber_id=subscriber_id, list_ids=list_ids)


# Not retried as a whole, which would mail its first addresses again: a mail in it that may go
# through later is handed to send_confirmation and its retries. Routed to `bulk` (an import's).
@shared_task(acks_late=True, soft_time_limit=240, time_limit=270)
def send_confirmations(subscriber_ids: list[int], list_ids: list[int]) -> None:
    confirmation_batches.confirmation_batch_send(subscriber_ids=subscriber_ids, list_ids=list_ids)


@mail_task
def send_welcome(subscriber_id: int, list_ids: list[int]) -> None:
    mailings.welcome_mail_send(subscriber_id=subscriber_id, list_ids=list_ids)


@mail_task
def send_address_change(subscriber_id: int, new_email: str) -> None:
    mailings.address_change_mail_send(subscriber_id=subscriber_id, new_email=new_email)


@mail_task
def send_address_changed_notice(subscriber_id: int, old_email: str) -> None:
    mailings.address_changed_notice_mail_send(subscriber_id=subscriber_id, old_email=old_email)


@mail_task
def send_data_link(subscriber_id: int, purpose: str) -> None:
    mailings.data_link_mail_send(subscriber_id=subscriber_id, purpose=purpose)


# Expires before the next tick: a backlog of ticks would only repeat the same sweep.
@shared_task(expires=signup_drain.SWEEP_INTERVAL_SECONDS - 5)
def sweep_signup_requests() -> None:
    signup_drain.signup_requests_sweep()


# The sweep's name before the drain existed, for ticks an older beat still sends.
@shared_task(expires=50)
def requeue_signup_requests() -> None:
    signup_drain.signup_requests_sweep()


# Longer than the default limits (a 20 MB file is some 400,000 rows) yet well under the broker's
# visibility timeout (15 min), so Redis never hands a running import to a second worker.
@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def import_subscribers(job_id: int) -> None:
    imports.import_job_run(job_id=job_id)
