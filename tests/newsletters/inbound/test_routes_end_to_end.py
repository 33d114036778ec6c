"""The acceptance of #11's bounce handling: every real-shaped mail, brought in by each route a
newsroom can use — `manage.py bounces_fetch` from a real IMAP or POP3 mailbox (a private dovecot)
and `manage.py bounces_serve`'s LMTP receiver over a real socket — marks the right delivery,
suppresses or unsubscribes the right reader, and changes nothing for a forged or unsigned one."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from devtools.ports import free_port
from mailinglist.models import Subscription, Suppression
from newsletters.inbound.models import InboundEvent
from newsletters.inbound.receiver import Receiver, receiver_start
from newsletters.models import Delivery
from tests.newsletters.inbound.dovecot import MailboxUser
from tests.newsletters.inbound.samples import (
    BOUNCE_ADDRESS,
    HARD_BOUNCES,
    Sent,
    forged,
    mail_for,
    sent,
)

pytestmark = pytest.mark.usefixtures("transactional_db")
Row = Delivery.State
ROUTES = ("imaps", "pop3s", "lmtp")
# A route takes the mail and the address it was sent to, and brings it in.
Deliver = Callable[[bytes, str], None]


@pytest.fixture(params=ROUTES)
def deliver(
    request: pytest.FixtureRequest, settings: Any, mailbox_user: MailboxUser, trusted_ca: Path
) -> Iterator[Deliver]:
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS  # the samples' domain
    route: str = request.param
    if route == "lmtp":
        receiver: Receiver = receiver_start(host="127.0.0.1", port=free_port())

        def over_lmtp(raw: bytes, to: str) -> None:
            with smtplib.LMTP(receiver.host, receiver.port) as client:
                # A bounce has the null return path (RFC 5321 §4.5.5).
                refused = client.sendmail("<>", [to], raw)
            assert refused == {}

        yield over_lmtp
        receiver.stop()
        return
    settings.BOUNCE_MAILBOX = mailbox_user.config(route)

    def from_the_mailbox(raw: bytes, to: str) -> None:
        mailbox_user.append(raw)
        out = StringIO()
        call_command("bounces_fetch", stdout=out)
        summary = out.getvalue()
        assert ": 1 processed (1 " in summary and "1 removed, 0 left" in summary, summary
        assert mailbox_user.messages() == [], "the fetched mail left the mailbox"

    yield from_the_mailbox


def _target(message: Sent, name: str) -> str:
    return message.unsubscribe if name == "mailto_unsubscribe" else message.return_path


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_hard_bounce_fails_that_row_and_suppresses_that_reader(
    deliver: Deliver, name: str
) -> None:
    message, bystander = sent(), sent(email="bystander@readers-isp.example")

    deliver(mail_for(name, message), message.return_path)

    message.row.refresh_from_db()
    bystander.row.refresh_from_db()
    assert (message.row.state, bystander.row.state) == (Row.FAILED, Row.SENT)
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (message.subscriber.email, "bounced")
    assert InboundEvent.objects.get().delivery_id == message.row.pk


def test_a_bounce_to_an_address_sent_before_still_finds_its_row(deliver: Deliver) -> None:
    message = sent(sent_before=True)

    deliver(mail_for("postfix_hard", message), message.return_path)

    message.row.refresh_from_db()
    assert message.row.state == Row.FAILED
    assert Suppression.objects.get().email == message.subscriber.email


def test_a_feedback_loop_report_suppresses_and_unsubscribes_the_reader(deliver: Deliver) -> None:
    message, bystander = sent(other_lists=1), sent(email="bystander@readers-isp.example")

    deliver(mail_for("arf_abuse", message), message.return_path)

    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (message.subscriber.email, "complained")
    states = set(
        Subscription.objects.filter(subscriber=message.subscriber).values_list("state", flat=True)
    )
    assert states == {"unsubscribed"}
    assert Subscription.objects.get(subscriber=bystander.subscriber).state == "active"
    assert InboundEvent.objects.get().kind == "complaint"


@pytest.mark.parametrize("sent_before", [False, True], ids=["one-mac", "sent-before"])
def test_mail_to_the_unsubscribe_address_leaves_that_list(
    deliver: Deliver, sent_before: bool
) -> None:
    message = sent(other_lists=1, sent_before=sent_before)

    deliver(mail_for("mailto_unsubscribe", message), message.unsubscribe)

    states = dict(
        Subscription.objects.filter(subscriber=message.subscriber).values_list(
            "mailing_list_id", "state"
        )
    )
    assert states.pop(message.digest.mailing_list_id) == "unsubscribed"
    assert set(states.values()) == {"active"}
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("name", [*HARD_BOUNCES, "arf_abuse", "mailto_unsubscribe"])
@pytest.mark.parametrize("how", ["forged", "unsigned"])
def test_a_forged_or_unsigned_address_changes_nothing(
    deliver: Deliver, name: str, how: str
) -> None:
    message = sent()
    signed = _target(message, name)
    address = forged(signed) if how == "forged" else BOUNCE_ADDRESS
    raw = mail_for(name, message, to=address)
    if name == "arf_abuse":
        # The report's copy of the original carries the addresses too: forge those as well.
        raw = raw.replace(message.return_path.encode(), forged(message.return_path).encode())
        raw = raw.replace(message.unsubscribe.encode(), forged(message.unsubscribe).encode())

    deliver(raw, address)

    message.row.refresh_from_db()
    assert (message.row.state, message.row.last_error) == (Row.SENT, "")
    assert not Suppression.objects.exists()
    assert set(Subscription.objects.values_list("state", flat=True)) == {"active"}
    assert not InboundEvent.objects.exists()
