"""What the entry point refuses or scores: forged and unsigned addresses, repeats, soft limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from mailinglist import return_path
from mailinglist.addresses import email_hash
from mailinglist.models import Subscriber, Subscription, Suppression
from newsletters.inbound.models import InboundEvent
from newsletters.inbound.process import inbound_message_process
from newsletters.models import Delivery
from tests.factories import SubscriberFactory
from tests.newsletters.inbound.samples import BOUNCE_ADDRESS, forged, mail_for, sent

pytestmark = pytest.mark.django_db
Row = Delivery.State
EVERY_SAMPLE = (
    "postfix_hard",
    "exim_hard",
    "exchange_hard",
    "gmail_hard",
    "yahoo_hard",
    "soft_mailbox_full",
    "delayed",
    "mailto_unsubscribe",
)


def _nothing_changed(row: Delivery) -> None:
    row.refresh_from_db()
    assert (row.state, row.last_error) == (Row.SENT, "")
    assert not Suppression.objects.exists()
    assert not InboundEvent.objects.exists()
    assert set(Subscription.objects.values_list("state", flat=True)) == {"active"}


@pytest.mark.parametrize("name", EVERY_SAMPLE)
def test_a_forged_token_is_ignored(name: str) -> None:
    message = sent()
    address = message.unsubscribe if name == "mailto_unsubscribe" else message.return_path

    result = inbound_message_process(raw=mail_for(name, message, to=forged(address)), source="t")

    assert result.kind == "ignored"
    assert "unsigned or forged" in result.detail
    _nothing_changed(message.row)


@pytest.mark.parametrize("name", EVERY_SAMPLE)
def test_an_unsigned_return_path_is_ignored(name: str) -> None:
    message = sent()

    result = inbound_message_process(raw=mail_for(name, message, to=BOUNCE_ADDRESS), source="t")

    assert result.kind == "ignored"
    _nothing_changed(message.row)


def test_a_complaint_whose_original_carries_only_forged_addresses_is_ignored() -> None:
    message = sent()
    raw = mail_for("arf_abuse", message)
    for address in (message.return_path, message.unsubscribe):
        raw = raw.replace(address.encode(), forged(address).encode())

    result = inbound_message_process(raw=raw, source="imap")

    assert result.kind == "ignored"
    _nothing_changed(message.row)


def test_a_header_cannot_override_the_envelope() -> None:
    message = sent()

    # The headers name the reader; the envelope (what LMTP was asked to deliver to) does not.
    result = inbound_message_process(
        raw=mail_for("postfix_hard", message),
        envelope_recipients=[BOUNCE_ADDRESS],
        source="lmtp",
    )

    assert result.kind == "ignored"
    _nothing_changed(message.row)


def test_the_same_mail_twice_is_applied_once() -> None:
    message = sent()
    raw = mail_for("soft_mailbox_full", message)

    first = inbound_message_process(raw=raw, source="imap")
    again = inbound_message_process(raw=raw, source="lmtp")

    assert (first.kind, again.kind) == ("soft-bounce", "duplicate")
    assert InboundEvent.objects.count() == 1


def test_soft_bounces_suppress_at_the_limit_within_the_window() -> None:
    message = sent()
    old = InboundEvent.objects.create(
        kind="soft-bounce",
        email_hash=email_hash(message.subscriber.email),
        fingerprint="an older soft bounce",
        subscriber=message.subscriber,
    )
    # Outside the window: not counted.
    InboundEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=15))
    raw = mail_for("soft_mailbox_full", message)

    def bounce(n: int) -> str:
        # Different mails: a server's queue id differs in each.
        again = raw.replace(b"4XkQHv2qM5z1c", f"Q{n}".encode())
        result = inbound_message_process(raw=again, source="imap")
        assert result.kind == "soft-bounce"
        return result.detail

    assert "soft bounce 1 of 3" in bounce(1)
    assert "soft bounce 2 of 3" in bounce(2)
    assert not Suppression.objects.exists()
    assert "suppressed (3 soft bounces within 14 days)" in bounce(3)
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (message.subscriber.email, "bounced")


def test_the_soft_limit_is_a_setting(settings: Any) -> None:
    settings.BOUNCE_SOFT_LIMIT = 1
    message = sent()

    result = inbound_message_process(raw=mail_for("soft_mailbox_full", message), source="t")

    assert "suppressed (1 soft bounces" in result.detail
    assert Suppression.objects.get().reason == "bounced"


def test_a_bounce_never_turns_a_skipped_row_into_a_failed_one() -> None:
    message = sent()
    Delivery.objects.filter(pk=message.row.pk).update(state=Row.SKIPPED, last_error="Unsubscribed")

    result = inbound_message_process(raw=mail_for("gmail_hard", message), source="t")

    assert result.kind == "hard-bounce"
    message.row.refresh_from_db()
    assert (message.row.state, message.row.last_error) == (Row.SKIPPED, "Unsubscribed")
    assert Suppression.objects.get().reason == "bounced"


def test_a_transactional_bounce_suppresses_without_a_row() -> None:
    reader = SubscriberFactory.create(email="reader@readers-isp.example")
    address = return_path.bounce_address(subscriber_id=reader.pk)
    message = sent(email="other@readers-isp.example")
    raw = mail_for("exim_hard", message, to=address).replace(
        b"other@readers-isp.example", b"reader@readers-isp.example"
    )

    result = inbound_message_process(raw=raw, source="t")

    assert (result.kind, result.delivery_id) == ("hard-bounce", None)
    assert Suppression.objects.get().email == "reader@readers-isp.example"
    message.row.refresh_from_db()
    assert message.row.state == Row.SENT


def test_a_reader_erased_since_is_ignored() -> None:
    message = sent()
    raw = mail_for("postfix_hard", message)
    message.subscriber.delete()

    result = inbound_message_process(raw=raw, source="t")

    assert result.kind == "ignored"
    assert "no longer here" in result.detail
    assert not Suppression.objects.exists()


def test_a_signed_address_on_an_auto_reply_is_not_a_bounce() -> None:
    message = sent()
    raw = (
        f"To: {message.return_path}\r\nFrom: reader@readers-isp.example\r\n"
        "Subject: Out of office\r\n\r\nI am away until Monday.\r\n"
    ).encode()

    result = inbound_message_process(raw=raw, source="t")

    assert result.kind == "ignored"
    _nothing_changed(message.row)


def test_a_policy_refusal_scores_soft_and_does_not_suppress_the_reader() -> None:
    # 5.7.1: the receiver blocked us (reputation, spam filter), not the address.
    message = sent()
    raw = mail_for("postfix_hard", message).replace(b"Status: 5.1.1", b"Status: 5.7.1")
    result = inbound_message_process(raw=raw, source="lmtp")
    assert result.kind == "soft-bounce"
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("name", ["postfix_hard", "exim_hard"])
def test_a_bounce_for_an_address_the_reader_has_left_does_not_suppress_their_new_one(
    name: str,
) -> None:
    message = sent()
    raw = mail_for(name, message)  # the report names the address the digest went to
    Subscriber.objects.filter(pk=message.subscriber.pk).update(email="new-home@readers-isp.example")

    result = inbound_message_process(raw=raw, source="imap")

    assert result.kind == "hard-bounce"
    assert "which stays mailable" in result.detail
    message.row.refresh_from_db()
    assert message.row.state == Row.FAILED  # that message did fail
    assert not Suppression.objects.exists()
