"""A reader's transactional mail: which list its headers name, and where its bounces go.

Sent in-process over real SMTP to a sink. tests/integration/test_header_audit.py holds every
kind of mail to every header rule through the real worker; these pin the choices behind it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.mail import EmailMessage
from pytest_django.fixtures import Settings

from devtools.smtp_sink import SmtpSink
from mailinglist import mailings, return_path
from mailinglist.models import MailingList, Subscriber, Subscription
from mailinglist.return_path import Ref
from operations import transport
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_transport import sink_serving

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    yield from sink_serving()


@pytest.fixture
def bounces(settings: Settings) -> str:
    settings.BOUNCE_ADDRESS = "bounces@news.example"
    return "bounces@news.example"


def _reader(*lists: tuple[MailingList, str]) -> Subscriber:
    subscriber = SubscriberFactory.create(email="ada@example.com")
    for mailing_list, state in lists:
        SubscriptionFactory.create(subscriber=subscriber, mailing_list=mailing_list, state=state)
    return subscriber


def test_mail_to_the_readers_own_address_returns_on_their_signed_path(
    sink: SmtpSink, bounces: str
) -> None:
    daily = MailingListFactory.create()
    ada = _reader((daily, State.PENDING))

    mailings.confirmation_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])
    mailings.data_link_mail_send(subscriber_id=ada.pk, purpose="export")

    for received in sink.received:
        assert received.mail_from.startswith("bounces+t")
        assert return_path.signed_ref_read(received.mail_from) == Ref("t", ada.pk)
        # The From is still the list's sender: only the envelope changes.
        assert bounces not in received.message["From"]


def test_mail_to_an_address_that_is_not_the_readers_returns_unsigned(
    sink: SmtpSink, bounces: str
) -> None:
    # A bounce of a new address to confirm, or of one the reader left, must not be taken for a
    # bounce of the address they have, which a signed return path would name.
    ada = _reader((MailingListFactory.create(), State.ACTIVE))

    mailings.address_change_mail_send(subscriber_id=ada.pk, new_email="ada@example.org")
    mailings.address_changed_notice_mail_send(subscriber_id=ada.pk, old_email="old@example.net")

    assert [r.rcpt_tos for r in sink.received] == [["ada@example.org"], ["old@example.net"]]
    assert [r.mail_from for r in sink.received] == [bounces, bounces]


def test_without_a_bounce_address_the_envelope_is_the_from_address(sink: SmtpSink) -> None:
    daily = MailingListFactory.create(from_email="morning@news.example", from_name="Morning")
    ada = _reader((daily, State.ACTIVE))

    mailings.welcome_mail_send(subscriber_id=ada.pk, list_ids=[daily.pk])

    (received,) = sink.received
    assert received.mail_from == "morning@news.example"


def test_mail_about_the_reader_names_their_first_current_list(sink: SmtpSink) -> None:
    left = MailingListFactory.create(slug="left")
    weekly = MailingListFactory.create(slug="weekly", name="Weekly")
    daily = MailingListFactory.create(slug="daily")
    ada = _reader((left, State.UNSUBSCRIBED), (daily, State.ACTIVE), (weekly, State.PENDING))

    mailings.data_link_mail_send(subscriber_id=ada.pk, purpose="erase")

    message = sink.received[0].message
    assert message["List-Id"] == '"Weekly" <weekly.127.0.0.1>'
    assert message["List-Unsubscribe-Post"] is None
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and f"Unsubscribe from Weekly: {unsubscribe}" in text.get_content()


def test_a_reader_who_left_every_list_is_offered_the_first_they_were_on(sink: SmtpSink) -> None:
    first, second = MailingListFactory.create(slug="first"), MailingListFactory.create()
    ada = _reader((second, State.UNSUBSCRIBED), (first, State.UNSUBSCRIBED))

    mailings.data_link_mail_send(subscriber_id=ada.pk, purpose="export")

    assert sink.received[0].message["List-Id"].endswith("<first.127.0.0.1>")


def test_a_reader_on_no_list_gets_no_list_headers_and_still_the_mail(sink: SmtpSink) -> None:
    ada = _reader()

    assert mailings.data_link_mail_send(subscriber_id=ada.pk, purpose="export") is not None

    message = sink.received[0].message
    assert message["List-Id"] is None and message["List-Unsubscribe"] is None
    assert message["Message-ID"].strip().endswith("@127.0.0.1>")


def test_the_transport_gives_a_message_without_one_a_message_id_on_our_domain(
    sink: SmtpSink, settings: Settings
) -> None:
    # Django's own default would be on the machine's name (socket.getfqdn()).
    settings.SITE_URL = "https://news.example.com"
    message = EmailMessage(subject="Hi", body="Hi", from_email="a@news.example", to=["b@x.example"])

    assert transport.email_message_send(message=message, envelope_from="r@news.example").ok

    (received,) = sink.received
    assert received.mail_from == "r@news.example"
    assert received.message["Message-ID"].strip().endswith("@news.example.com>")
    assert received.message["Message-ID"] == message.extra_headers["Message-ID"]
