"""Confirmations for an import's thousands of new addresses: a task per batch, not per address.

An import without consent asks each new subscriber to confirm, under the same rules as a signup:
at most one confirmation per address a day, sent by a worker on the `bulk` queue (so a reader
waiting on the site never queues behind an import). Taking the daily slots costs one Redis round
trip per chunk, and each task carries CONFIRMATION_BATCH_SIZE addresses: one Celery publish per
address cost more than the import's database writes (#12).

A batch task is delivered again if its worker dies mid-way (acks_late). A marker per address,
set once the server took the mail, makes the second delivery skip what the first one sent; only
the one mail in flight at the moment of the crash can go twice.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from mailinglist import mailings, protection
from operations.redis_client import redis_client
from operations.transport import TransportFailure

# A batch of confirmations takes a worker a second or two over a local SMTP relay and about a
# minute over a slow one (0.2 s a mail): below the task's time limit, and few enough tasks that
# publishing them costs the import little (400 for 100,000 addresses).
CONFIRMATION_BATCH_SIZE = 250
# A mail the server may take later leaves the batch for send_confirmation, which retries it
# alone with its own backoff; it waits this long first, as that task's first retry would.
RETRY_DELAY_SECONDS = 15


def _sent_marker(subscriber_id: int, list_ids: list[int]) -> str:
    lists = ",".join(str(list_id) for list_id in sorted(list_ids))
    return cache.make_key(f"signup:confirm-mailed:{subscriber_id}:{lists}")


def confirmations_enqueue(*, recipients: list[tuple[int, str]], list_ids: list[int]) -> int:
    """After the current transaction commits, ask each (subscriber id, address) in `recipients`
    to confirm `list_ids`, except addresses that had a confirmation in the last 24 hours.

    Returns how many will be mailed.
    """
    from mailinglist.tasks import send_confirmations

    taken = protection.confirmation_slots_take(emails=[email for _, email in recipients])
    subscriber_ids = [pk for (pk, _), is_taken in zip(recipients, taken, strict=True) if is_taken]
    batches = [
        subscriber_ids[start : start + CONFIRMATION_BATCH_SIZE]
        for start in range(0, len(subscriber_ids), CONFIRMATION_BATCH_SIZE)
    ]

    def publish() -> None:
        # One broker connection for the chunk's batches rather than one taken per publish.
        with send_confirmations.app.producer_or_acquire() as producer:
            for batch in batches:
                send_confirmations.apply_async((batch, list_ids), producer=producer)

    if batches:
        transaction.on_commit(publish)
    return len(subscriber_ids)


def confirmation_batch_send(*, subscriber_ids: list[int], list_ids: list[int]) -> int:
    """Send each subscriber's confirmation, at most once however often the batch is delivered;
    how many the server took.

    What mailings.confirmation_mail_send decides holds for each: nothing to someone erased,
    suppressed or no longer pending since the import. A refusal for good is settled there; a
    mail that may go through later is handed to send_confirmation and its retries.
    """
    from mailinglist.tasks import send_confirmation

    client = redis_client()
    sent = 0
    for subscriber_id in subscriber_ids:
        marker = _sent_marker(subscriber_id, list_ids)
        if client.exists(marker):
            continue  # this batch was delivered before and that mail went
        try:
            message_id = mailings.confirmation_mail_send(
                subscriber_id=subscriber_id, list_ids=list_ids
            )
        except TransportFailure:
            send_confirmation.apply_async(
                (subscriber_id, list_ids), queue="bulk", countdown=RETRY_DELAY_SECONDS
            )
            continue
        client.set(marker, 1, ex=protection.CONFIRMATION_WINDOW_SECONDS)
        sent += message_id is not None
    return sent
