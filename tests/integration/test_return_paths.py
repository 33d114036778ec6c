"""A real worker with BOUNCE_ADDRESS set: every digest message leaves with its reader's own signed
return path and a signed mailto: after the https one-click link; a DSN made from one received
message, fed to the inbound entry point, fails that reader's row and no other."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker, database_url, own_bulk_worker
from mailinglist import return_path
from mailinglist.models import Subscriber, Subscription, Suppression
from newsletters import scheduling
from newsletters.delivery import dispatch
from newsletters.inbound.process import inbound_message_process
from newsletters.models import Delivery, Digest
from tests.integration.cluster import readers_add
from tests.newsletters.digests import make_digest
from tests.newsletters.inbound.samples import BOUNCE_ADDRESS, mail
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State
READERS = 40


@pytest.fixture(scope="module")
def verp_worker(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[SmtpSink, Worker]]:
    from django.db import connection

    sink = SmtpSink()
    sink.start()
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    before = os.environ.get("BOUNCE_ADDRESS")
    os.environ["BOUNCE_ADDRESS"] = BOUNCE_ADDRESS  # the worker's environment is a copy of ours
    try:
        with own_bulk_worker(db_url=db_url, email_url=sink.url, name="verp") as worker:
            yield sink, worker
    finally:
        if before is None:
            os.environ.pop("BOUNCE_ADDRESS", None)
        else:
            os.environ["BOUNCE_ADDRESS"] = before
        sink.stop()


def _sent_digest() -> Digest:
    digest = make_digest(stories=2)
    readers_add(digest.mailing_list, READERS, prefix="verp")
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    assert dispatch.digests_dispatch_due() == [digest.pk]
    wait_until(
        lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(), timeout=120
    )
    return digest


def test_each_message_has_its_own_signed_return_path_and_a_dsn_marks_that_row(
    verp_worker: tuple[SmtpSink, Worker], transactional_db: None, settings: Any
) -> None:
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS
    sink, _ = verp_worker
    sink.clear()
    digest = _sent_digest()

    received = {r.rcpt_tos[0]: r for r in sink.received}
    assert len(received) == len(sink.received) == READERS
    readers = dict(Subscriber.objects.filter(email__in=received).values_list("email", "pk"))
    for email, message in received.items():
        assert return_path.signed_ref_read(message.mail_from) == return_path.Ref(
            kind="b",
            subscriber_id=readers[email],
            list_id=digest.mailing_list_id,
            digest_id=digest.pk,
        )
        https, mailto = (
            u.strip().strip("<>") for u in message.message["List-Unsubscribe"].split(",")
        )
        assert https.startswith("http://127.0.0.1:8000/unsubscribe/")
        ref = return_path.signed_ref_read(mailto.removeprefix("mailto:").partition("?")[0])
        assert ref is not None and (ref.kind, ref.subscriber_id) == ("u", readers[email])
        assert message.message["Feedback-ID"] == (
            f"{digest.pk}:{digest.mailing_list_id}:digest:newsdesk"
        )
    assert len({m.mail_from for m in received.values()}) == READERS

    bounced = received["verp7@example.com"]
    dsn = mail(
        "postfix_hard",
        to="bounces@news.example",  # a mailbox's header; the LMTP envelope is what counts
        recipient="verp7@example.com",
        message_id=str(bounced.message["Message-ID"]).strip("<>"),
        unsubscribe="",
    )
    result = inbound_message_process(
        raw=dsn, envelope_recipients=[bounced.mail_from], source="lmtp"
    )

    row = Delivery.objects.get(digest=digest, subscriber_id=readers["verp7@example.com"])
    assert (result.kind, result.delivery_id) == ("hard-bounce", row.pk)
    assert row.state == Row.FAILED
    assert Delivery.objects.filter(digest=digest, state=Row.SENT).count() == READERS - 1
    assert list(Suppression.objects.values_list("email", flat=True)) == ["verp7@example.com"]

    leaving = received["verp9@example.com"]
    mailto = leaving.message["List-Unsubscribe"].split(",")[1].strip().strip("<>")
    address = mailto.removeprefix("mailto:").partition("?")[0]
    unsubscribe = mail("mailto_unsubscribe", to=address, recipient="verp9@example.com")
    assert inbound_message_process(raw=unsubscribe, source="lmtp").kind == "unsubscribe"
    assert Subscription.objects.get(subscriber_id=readers["verp9@example.com"]).state == (
        Subscription.State.UNSUBSCRIBED
    )
