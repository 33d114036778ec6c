"""Each real-shaped mail, fed to the entry point: the right row, the right address, nothing else."""

from __future__ import annotations

from email import message_from_bytes

import pytest
from flufl.bounce import all_failures
from flufl.bounce._detectors.exim import Exim
from flufl.bounce._detectors.yahoo import Yahoo

from mailinglist.models import ConsentEvent, Subscription, Suppression
from newsletters.delivery.reports import digest_report
from newsletters.inbound.models import InboundEvent
from newsletters.inbound.process import inbound_message_process
from newsletters.models import Delivery
from tests.newsletters.inbound.samples import HARD_BOUNCES, mail_for, sent

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_flufl_bounce_recognises_each_hard_bounce_as_permanent(name: str) -> None:
    message = sent()
    parsed = message_from_bytes(mail_for(name, message))

    temporary, permanent = all_failures(parsed)

    assert not temporary
    assert permanent == frozenset({b"reader@readers-isp.example"})


def test_the_formats_without_a_dsn_are_found_by_their_own_detectors() -> None:
    message = sent()

    exim = Exim().process(message_from_bytes(mail_for("exim_hard", message)))
    yahoo = Yahoo().process(message_from_bytes(mail_for("yahoo_hard", message)))

    assert exim[1] == yahoo[1] == {b"reader@readers-isp.example"}


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_hard_bounce_fails_the_readers_row_and_suppresses_only_their_address(name: str) -> None:
    message = sent()
    bystander = sent(email="bystander@readers-isp.example")

    result = inbound_message_process(raw=mail_for(name, message), source="test")

    assert (result.kind, result.delivery_id) == ("hard-bounce", message.row.pk)
    message.row.refresh_from_db()
    assert message.row.state == Row.FAILED
    assert message.row.last_error.startswith("Bounced (hard-bounce): ")
    assert "55" in message.row.last_error  # the server's own 55x answer
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (message.subscriber.email, "bounced")
    bystander.row.refresh_from_db()
    assert bystander.row.state == Row.SENT
    # A bounce is not the reader saying no: subscriptions and consent records stand.
    assert set(Subscription.objects.values_list("state", flat=True)) == {"active"}
    assert not ConsentEvent.objects.exists()
    event = InboundEvent.objects.get()
    assert (event.kind, event.delivery_id, event.digest_id) == (
        "hard-bounce",
        message.row.pk,
        message.digest.pk,
    )


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_the_lmtp_envelope_recipient_finds_the_reader_too(name: str) -> None:
    message = sent()
    raw = mail_for(name, message, to="postmaster@news.example")  # headers name nobody

    result = inbound_message_process(
        raw=raw, envelope_recipients=[message.return_path.upper()], source="lmtp"
    )

    assert (result.kind, result.delivery_id) == ("hard-bounce", message.row.pk)


def test_a_full_mailbox_is_a_soft_bounce_that_fails_the_row_without_suppressing() -> None:
    message = sent()

    result = inbound_message_process(raw=mail_for("soft_mailbox_full", message), source="test")

    assert result.kind == "soft-bounce"
    assert "soft bounce 1 of 3 within 14 days" in result.detail
    message.row.refresh_from_db()
    assert (message.row.state, "4.2.2" in message.row.last_error) == (Row.FAILED, True)
    assert not Suppression.objects.exists()


def test_a_delay_warning_is_only_noted() -> None:
    message = sent()

    result = inbound_message_process(raw=mail_for("delayed", message), source="test")

    assert result.kind == "delayed"
    message.row.refresh_from_db()
    assert (message.row.state, message.row.last_error) == (Row.SENT, "")
    assert not Suppression.objects.exists()
    assert InboundEvent.objects.get().kind == "delayed"


def test_a_feedback_loop_complaint_suppresses_unsubscribes_and_counts_in_the_report() -> None:
    message = sent(other_lists=2)

    result = inbound_message_process(raw=mail_for("arf_abuse", message), source="imap")

    assert (result.kind, result.delivery_id) == ("complaint", message.row.pk)
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (message.subscriber.email, "complained")
    assert set(Subscription.objects.values_list("state", flat=True)) == {"unsubscribed"}
    consent = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert consent.detail == {"method": "feedback loop spam complaint", "digest": message.digest.pk}
    report = digest_report(digest=message.digest)
    assert report.figures.complained == 1
    assert [line.subscriber_id for line in report.complained] == [message.subscriber.pk]


def test_a_complaint_is_found_by_the_original_unsubscribe_address_alone() -> None:
    message = sent()
    raw = mail_for("arf_abuse", message).replace(
        f"Return-Path: <{message.return_path}>".encode(), b"Return-Path: <bounces@news.example>"
    )

    result = inbound_message_process(raw=raw, source="imap")

    assert (result.kind, result.delivery_id) == ("complaint", message.row.pk)


def test_a_mailto_unsubscribe_leaves_only_that_list_credited_to_the_digest() -> None:
    message = sent(other_lists=1)

    result = inbound_message_process(raw=mail_for("mailto_unsubscribe", message), source="lmtp")

    assert (result.kind, result.delivery_id) == ("unsubscribe", message.row.pk)
    states = dict(Subscription.objects.values_list("mailing_list_id", "state"))
    assert states.pop(message.digest.mailing_list_id) == "unsubscribed"
    assert set(states.values()) == {"active"}
    consent = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert consent.detail == {"method": "List-Unsubscribe mailto", "digest": message.digest.pk}
    assert not Suppression.objects.exists()
    assert digest_report(digest=message.digest).figures.unsubscribed == 1
