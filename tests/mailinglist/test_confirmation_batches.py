"""An import's confirmations, a batch per task: each reader mailed once, over real SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.smtp_sink import SmtpSink
from mailinglist import confirmation_batches, tasks
from mailinglist.models import MailingList, Subscriber, Subscription
from operations.redis_client import redis_client
from tests.factories import MailingListFactory, SubscriberFactory
from tests.mail_transport import sink_serving

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    yield from sink_serving()


@pytest.fixture
def deferring_sink() -> Iterator[SmtpSink]:
    yield from sink_serving(temp_fail_first_fraction=1.0)


def _readers(mailing_list: MailingList, *states: str) -> list[Subscriber]:
    readers = []
    for n, state in enumerate(states):
        reader = SubscriberFactory.create(email=f"reader{n}@example.com")
        Subscription.objects.create(subscriber=reader, mailing_list=mailing_list, state=state)
        readers.append(reader)
    return readers


def test_a_batch_mails_each_pending_reader_once_however_often_it_is_delivered(
    sink: SmtpSink,
) -> None:
    daily = MailingListFactory.create(name="The Morning Briefing")
    pending_a, active, pending_b = _readers(daily, State.PENDING, State.ACTIVE, State.PENDING)
    ids = [pending_a.pk, active.pk, pending_b.pk]

    first = confirmation_batches.confirmation_batch_send(subscriber_ids=ids, list_ids=[daily.pk])
    # The worker died before acknowledging: the broker hands the same batch out again.
    again = confirmation_batches.confirmation_batch_send(subscriber_ids=ids, list_ids=[daily.pk])

    assert (first, again) == (2, 0)
    assert sorted(r.rcpt_tos[0] for r in sink.received) == [pending_a.email, pending_b.email]
    for received in sink.received:
        assert received.message["Subject"] == "Confirm your subscription to The Morning Briefing"


def test_a_mail_the_server_defers_leaves_the_batch_for_the_single_task_and_its_retries(
    deferring_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    daily = MailingListFactory.create()
    (reader,) = _readers(daily, State.PENDING)
    handed_over: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(
        tasks.send_confirmation,
        "apply_async",
        lambda args, **options: handed_over.append((args, options)),
    )

    sent = confirmation_batches.confirmation_batch_send(
        subscriber_ids=[reader.pk], list_ids=[daily.pk]
    )

    assert sent == 0
    assert handed_over == [
        (
            (reader.pk, [daily.pk]),
            {"queue": "bulk", "countdown": confirmation_batches.RETRY_DELAY_SECONDS},
        )
    ]
    # Not marked as sent: the single task's retry (or a redelivery of the batch) still mails it.
    assert not redis_client().exists(confirmation_batches._sent_marker(reader.pk, [daily.pk]))
