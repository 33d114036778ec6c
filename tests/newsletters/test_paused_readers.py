"""A reader who pauses after the snapshot is skipped by the batch, with the reason, and not mailed.

The batch runs in-process (as in test_sending_faults.py) against the real SMTP sink.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.smtp_sink import SmtpSink
from mailinglist.models import Subscriber
from mailinglist.preferences import subscriber_pause
from mailinglist.subscriptions import RequestMeta
from newsletters.delivery import batch, fanout, snapshot
from newsletters.models import Delivery, Digest
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    with transport_to(smtp_sink.port):
        yield smtp_sink


def test_a_reader_who_pauses_after_the_snapshot_is_skipped_and_not_mailed(
    sink: SmtpSink, django_capture_on_commit_callbacks
) -> None:
    digest = sending_digest(email="pauser{n}@example.com", readers=3)
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
