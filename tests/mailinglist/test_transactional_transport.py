"""Transactional mail goes through the product's one transport, the digests' path.

Sent in-process over real SMTP to a real sink (pipelined, as digests are), or into the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from devtools.smtp_sink import Received, SmtpSink
from mailinglist import mailings
from mailinglist.models import MailingList, Subscriber, Subscription, Suppression
from mailinglist.suppressions import is_suppressed
from newsletters.delivery import notices
from newsletters.delivery.ledger import digest_event
from newsletters.models import Digest
from operations import transport
from operations.mailcheck import mail_check_send
from operations.models import MailCheck
from tests.factories import MailingListFactory, SubscriberFactory
from tests.mail_transport import sink_serving
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    yield from sink_serving()


@pytest.fixture
def bouncing_sink() -> Iterator[SmtpSink]:
    yield from sink_serving(perm_fail_fraction=1.0)


@pytest.fixture
def deferring_sink() -> Iterator[SmtpSink]:
    yield from sink_serving(temp_fail_first_fraction=1.0)


def _reader(mailing_list: MailingList, state: str, email: str = "ada@example.com") -> Subscriber:
    subscriber = SubscriberFactory.create(email=email, name="Ada")
    Subscription.objects.create(subscriber=subscriber, mailing_list=mailing_list, state=state)
    return subscriber


def test_a_confirmation_goes_over_the_pipelined_smtp_path(sink: SmtpSink) -> None:
    daily = MailingListFactory.create(name="The Morning Briefing")
    ada = _reader(daily, State.PENDING)

    message_id = mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])

    (received,) = sink.received
    message = received.message
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.mail_from == "newsletter@localhost"  # the From's addr-spec, not the header
    assert message["Message-ID"] == message_id
    assert message["Subject"] == "Confirm your subscription to The Morning Briefing"
    assert message["From"] == "Newsroom <newsletter@localhost>"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "/confirm/" in text.get_content()
    assert message.get_body(preferencelist=("html",)) is not None


def test_a_welcome_keeps_its_list_headers_and_sender(sink: SmtpSink) -> None:
    daily = MailingListFactory.create(
        slug="daily",
        name="The Morning Briefing",
        from_name="Morning Desk",
        from_email="morning@news.example",
        reply_to="letters@news.example",
    )
    ada = _reader(daily, State.ACTIVE)

    mailings.welcome_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])

    (received,) = sink.received
    message = received.message
    assert received.mail_from == "morning@news.example"
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Morning Desk", "morning@news.example")
    assert message["Reply-To"] == "letters@news.example"
    assert message["Subject"] == "Welcome to The Morning Briefing"
    # Not bulk mail: a mailbox's unsubscribe button opens the page (RFC 8058 is for digests).
    assert message["List-Unsubscribe-Post"] is None
    assert message["List-Unsubscribe"].strip().startswith("<http")
    assert message["List-Id"].endswith("<daily.127.0.0.1>")


def test_a_hard_bounce_is_final_and_suppresses_the_address(bouncing_sink: SmtpSink) -> None:
    daily = MailingListFactory.create()
    ada = _reader(daily, State.PENDING, email="nobody@example.com")

    # Refused for good: nothing raised (so the task does not retry), the address suppressed.
    assert mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk]) is None

    suppression = Suppression.objects.get()
    assert suppression.reason == Suppression.Reason.BOUNCED
    assert suppression.note.startswith("550")
    assert bouncing_sink.received == []
    # A second confirmation task (a resend) finds the address suppressed and mails nothing.
    assert mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk]) is None
    assert len(bouncing_sink.attempts["nobody@example.com"]) == 1


def test_a_deferral_raises_for_the_task_to_retry(deferring_sink: SmtpSink) -> None:
    daily = MailingListFactory.create()
    ada = _reader(daily, State.PENDING)

    with pytest.raises(transport.TransportFailure) as deferred:
        mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])

    assert deferred.value.outcome.code == 451
    assert not deferred.value.outcome.permanent
    assert not is_suppressed(email="ada@example.com")
    # The retry (the task's next run) is accepted.
    mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])
    assert [r.rcpt_tos for r in deferring_sink.received] == [["ada@example.com"]]


def test_the_mail_check_records_the_transports_refusal() -> None:
    for sink in sink_serving(sender_reply="550 5.7.1 Sender not allowed"):
        check = MailCheck.objects.create(recipient="ops@example.com")

        result = mail_check_send(check_id=check.pk)

        assert result.state == MailCheck.State.FAILED
        assert result.error.startswith(f"Could not send through EMAIL_URL ({sink.url}): ")
        assert "refused the sender newsletter@localhost: 550 5.7.1 Sender not allowed" in (
            result.error
        )
        assert sink.received == []


def test_every_transactional_mail_lands_in_the_default_outbox(tmp_path: Path) -> None:
    daily = MailingListFactory.create(name="The Morning Briefing")
    ada = _reader(daily, State.ACTIVE)
    pending = _reader(daily, State.PENDING, email="grace@example.com")
    publisher = User.objects.create_user(username="pub", email="pub@newsroom.example")
    digest = make_digest(stories=1, scheduled_by=publisher, state=Digest.State.SENT)
    digest_event(digest.pk, "sent")
    check = MailCheck.objects.create(recipient="ops@example.com")

    transport.transport_close()
    with override_settings(EMAIL_BACKEND="outbox.backend.OutboxEmailBackend", OUTBOX_DIR=tmp_path):
        mailings.confirmation_mail_send(subscriber_id=pending.pk, list_ids=[daily.pk])
        mailings.welcome_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])
        mailings.address_change_mail_send(subscriber_id=ada.pk, new_email="ada@new.example")
        mailings.address_changed_notice_mail_send(subscriber_id=ada.pk, old_email="old@example")
        notices.digest_notify_publisher(digest_id=digest.pk, action="sent")
        assert mail_check_send(check_id=check.pk).state == MailCheck.State.SENT

    files = sorted(tmp_path.glob("*.eml"))
    received = [Received(mail_from="", rcpt_tos=[], raw=path.read_bytes()) for path in files]
    assert [(r.message["To"], r.message["Subject"].split(":")[0]) for r in received] == [
        ("grace@example.com", "Confirm your subscription to The Morning Briefing"),
        ("ada@example.com", "Welcome to The Morning Briefing"),
        ("ada@new.example", received[2].message["Subject"].split(":")[0]),
        ("old@example", received[3].message["Subject"].split(":")[0]),
        ("pub@newsroom.example", "Sent"),
        ("ops@example.com", "Mail check"),
    ]
    assert all(
        r.raw.count(b"\r\n") > 3 and b"\n" not in r.raw.replace(b"\r\n", b"") for r in received
    )
