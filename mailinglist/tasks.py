"""Thin Celery adapters over the audience's domain functions: ids in, one call each.

Queues come from CELERY_TASK_ROUTES: everything here is `transactional` (a reader is waiting)
except the housekeeping tick and CSV imports, which go to `default`.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec

from celery import Task, shared_task
from django.utils import timezone

from mailinglist import emails, imports, links, preferences, subscriptions
from mailinglist.models import MailingList, SignupRequest, Subscriber, Subscription

# A mail server that is down or says "try later" gets retried with growing, jittered pauses that
# stay short (at most 5 min), well under the broker's visibility timeout.
RETRYABLE = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)
P = ParamSpec("P")


def mail_task(func: Callable[P, None]) -> Task[P, None]:
    """A task that sends a reader a mail: one retry policy for all of them."""
    return shared_task(
        acks_late=True,
        autoretry_for=RETRYABLE,
        retry_backoff=15,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=6,
    )(func)


@shared_task(acks_late=True)
def process_signup(request_id: int) -> None:
    subscriptions.signup_request_process(request_id=request_id)


@mail_task
def send_confirmation(subscriber_id: int, list_ids: list[int]) -> None:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriptions.signup_blocked(email=subscriber.email):
        return  # erased or suppressed since the signup
    lists = list(
        MailingList.objects.filter(
            pk__in=list_ids,
            subscriptions__subscriber=subscriber,
            subscriptions__state=Subscription.State.PENDING,
        )
    )
    if lists:
        emails.confirmation_send(subscriber=subscriber, lists=lists)


@mail_task
def send_welcome(subscriber_id: int, list_ids: list[int]) -> None:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriptions.is_suppressed(email=subscriber.email):
        return
    active = MailingList.objects.filter(
        pk__in=list_ids,
        subscriptions__subscriber=subscriber,
        subscriptions__state=Subscription.State.ACTIVE,
    )
    # In the order the reader was asked: the first list's sender signs the one welcome.
    lists = sorted(active, key=lambda mailing_list: list_ids.index(mailing_list.pk))
    if lists:
        emails.welcome_send(subscriber=subscriber, lists=lists)


@mail_task
def send_address_change(subscriber_id: int, new_email: str) -> None:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriptions.signup_blocked(email=new_email):
        return
    change_url = links.address_change_url(
        subscriber=subscriber,
        new_email=new_email,
        old_email_ref=preferences.email_ref(subscriber.email),
    )
    emails.address_change_send(subscriber=subscriber, new_email=new_email, change_url=change_url)


@mail_task
def send_address_changed_notice(subscriber_id: int, old_email: str) -> None:
    # The old address travels in the task: once changed, no row holds it any more.
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriptions.is_suppressed(email=old_email):
        return
    emails.address_changed_notice_send(subscriber=subscriber, old_email=old_email)


@shared_task(expires=50)
def requeue_signup_requests() -> None:
    # Signups whose task Redis lost (restart without AOF) are re-enqueued from their rows;
    # processed ones are deleted after a week (the consent event keeps what matters).
    stale = timezone.now() - timedelta(minutes=2)
    for request_id in SignupRequest.objects.filter(
        processed_at__isnull=True, created_at__lt=stale
    ).values_list("pk", flat=True)[:1000]:
        process_signup.delay(request_id)
    SignupRequest.objects.filter(processed_at__lt=timezone.now() - timedelta(days=7)).delete()


# Longer than the default limits (a 20 MB file is some 400,000 rows) yet well under the broker's
# visibility timeout (15 min), so Redis never hands a running import to a second worker.
@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def import_subscribers(job_id: int) -> None:
    imports.import_job_run(job_id=job_id)
