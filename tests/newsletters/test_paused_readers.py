"""A reader who pauses after the snapshot is skipped by the batch, with the reason, and not mailed.

The batch runs in-process (as in test_sending_faults.py) against the real SMTP sink.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from mailinglist.models import Subscriber, Subscription
from mailinglist.preferences import subscriber_pause
from mailinglist.subscriptions import RequestMeta
from newsletters import scheduling
from newsletters.delivery import batch, fanout, snapshot
from newsletters.models import Delivery, Digest
from operations import transport
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    transport.transport_close()
    with override_settings(
        EMAIL_BACKEND=transport.SMTP_BACKEND,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_sink.port,
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_HOST_USER="",
        EMAIL_TIMEOUT=5,
    ):
        yield smtp_sink
    transport.transport_close()


def _sending_digest(readers: int) -> Digest:
    digest = make_digest(stories=1)
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"pauser{n}@example.com", public_id=f"p-{n}") for n in range(readers)
    )
    Subscription.objects.bulk_create(
        Subscription(
            subscriber=s, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
        )
        for s in subscribers
    )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)
    return digest


def test_a_reader_who_pauses_after_the_snapshot_is_skipped_and_not_mailed(
    sink: SmtpSink, django_capture_on_commit_callbacks
) -> None:
    digest = _sending_digest(3)
    with django_capture_on_commit_callbacks(execute=False):
        assert snapshot.digest_snapshot(digest_id=digest.pk) == 3
    pauser, *others = Subscriber.objects.order_by("pk")
    subscriber_pause(subscriber=pauser, weeks=2, meta=RequestMeta())

    for block in fanout.batch_ranges(digest_id=digest.pk):
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )

    assert (result.sent, result.skipped) == (2, 1)
    skipped = Delivery.objects.get(digest=digest, subscriber=pauser)
    assert (skipped.state, skipped.last_error) == (Row.SKIPPED, "Paused.")
    mailed = sorted(rcpt for message in sink.wait_for(2) for rcpt in message.rcpt_tos)
    assert mailed == sorted(reader.email for reader in others)
    assert pauser.email not in {rcpt for message in sink.received for rcpt in message.rcpt_tos}
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENT
