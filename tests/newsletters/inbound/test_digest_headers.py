"""The digest side: each reader's own signed MAIL FROM, List-Unsubscribe with the https one-click
link first and a signed mailto: second, and a Feedback-ID per digest."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from mailinglist import return_path
from mailinglist.models import Subscriber
from newsletters import rendering
from newsletters.delivery import messages
from newsletters.inbound.process import inbound_message_process
from tests.factories import SubscriberFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def _message(**list_fields: Any) -> tuple[EmailMessage, messages.MessageTemplate, int]:
    parsed, template, reader_id, _ = _sent(**list_fields)
    return parsed, template, reader_id


def _envelope_from(template: messages.MessageTemplate, reader: Subscriber) -> str:
    """The MAIL FROM the send loop uses for `reader` (Recipient.envelope_from)."""
    recipient = messages.recipient_values(template=template, subscriber=reader)
    return recipient.envelope_from


def _sent(**list_fields: Any) -> tuple[EmailMessage, messages.MessageTemplate, int, bytes]:
    digest = make_digest(stories=2)
    for name, value in list_fields.items():
        setattr(digest.mailing_list, name, value)
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    reader = SubscriberFactory.create(email="ada@readers-isp.example")
    recipient = messages.recipient_values(template=template, subscriber=reader)
    raw = messages.message_bytes(template=template, recipient=recipient)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed, template, reader.pk, raw


def _uris(message: EmailMessage) -> list[str]:
    return [uri.strip().strip("<>") for uri in str(message["List-Unsubscribe"]).split(",")]


def test_with_a_bounce_address_the_mailto_follows_the_https_link(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"
    message, template, reader_id = _message()

    https, mailto = _uris(message)

    assert https.startswith("http://127.0.0.1:8000/unsubscribe/")
    assert mailto.startswith("mailto:bounces+u") and mailto.endswith("?subject=unsubscribe")
    ref = return_path.signed_ref_read(mailto.removeprefix("mailto:").partition("?")[0])
    assert ref == return_path.Ref(
        kind="u",
        subscriber_id=reader_id,
        list_id=template.mailing_list_id,
        digest_id=template.digest_id,
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_each_reader_gets_a_signed_envelope_sender_of_their_own(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"
    _, template, reader_id = _message()
    reader, other_reader = Subscriber.objects.get(pk=reader_id), SubscriberFactory.create()

    sender = _envelope_from(template, reader)
    other = _envelope_from(template, other_reader)

    assert sender != other
    assert return_path.signed_ref_read(sender) == return_path.Ref(
        kind="b",
        subscriber_id=reader_id,
        list_id=template.mailing_list_id,
        digest_id=template.digest_id,
    )


def test_without_a_bounce_address_nothing_changes(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = ""
    message, template, reader_id = _message()

    assert len(_uris(message)) == 1
    assert "mailto" not in str(message)
    reader = Subscriber.objects.get(pk=reader_id)
    assert _envelope_from(template, reader) == template.envelope_from


@pytest.mark.parametrize("bounce_address", ["", "bounces@news.example"])
def test_every_digest_message_carries_its_feedback_id(settings: Any, bounce_address: str) -> None:
    settings.BOUNCE_ADDRESS = bounce_address
    message, template, _ = _message()

    assert (
        message["Feedback-ID"] == f"{template.digest_id}:{template.mailing_list_id}:digest:newsdesk"
    )


def test_a_long_list_name_folds_the_header_but_keeps_every_address_whole(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "a-rather-long-bounce-mailbox-name@bounces.news-organisation.example"
    message, _, reader_id, raw = _sent(name="The Morning Briefing " * 6)

    header = raw.split(b"\r\nList-Unsubscribe: ", 1)[1].split(b"\r\nList-", 1)[0]
    https, mailto = _uris(message)

    assert b",\r\n <mailto:" in header  # folded after the comma, both addresses whole

    assert https.startswith("http://127.0.0.1:8000/unsubscribe/")
    ref = return_path.signed_ref_read(mailto.removeprefix("mailto:").partition("?")[0])
    assert ref is not None and ref.subscriber_id == reader_id


def test_a_staff_test_sends_mailto_unsubscribes_nobody(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"
    digest = make_digest(stories=1)
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    stand_in = Subscriber(email="editor@news.example", public_id="test-1-staff")
    values = messages.recipient_values(template=template, subscriber=stand_in).values
    mailto = values[rendering.SLOT_UNSUBSCRIBE_MAILTO].decode()
    address = mailto.removeprefix("mailto:").partition("?")[0]
    mail = f"To: {address}\r\nSubject: unsubscribe\r\n\r\nplease\r\n".encode()

    assert inbound_message_process(raw=mail, source="test").kind == "ignored"
