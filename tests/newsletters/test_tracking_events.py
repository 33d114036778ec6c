"""What each ESP tracking event does to the ledger, suppressions, subscriptions and consent."""

from __future__ import annotations

from typing import Any

import pytest

from mailinglist.models import ConsentEvent, Subscriber, Subscription, Suppression
from newsletters.models import Delivery
from tests.factories import MailingListFactory
from tests.newsletters.tracking_payloads import (
    MAILGUN,
    POSTMARK,
    mailgun,
    metadata,
    post,
    postmark_bounce,
    postmark_complaint,
    postmark_subscription_change,
    sent_row,
    snapshot,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]
Row = Delivery.State


# --- Postmark ----------------------------------------------------------------------------------


def test_a_hard_bounce_fails_the_row_and_suppresses_the_address_once() -> None:
    row = sent_row()

    first = post(POSTMARK, postmark_bounce(row, "reader@example.com"))
    after_first = snapshot()
    again = post(POSTMARK, postmark_bounce(row, "reader@example.com"))  # Postmark retries

    assert (first.status_code, again.status_code) == (200, 200)
    assert snapshot() == after_first
    row.refresh_from_db()
    assert row.state == Row.FAILED
    assert row.last_error.startswith("Bounced (Postmark): smtp;550 5.1.1 The email account")
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("reader@example.com", "bounced")
    assert suppression.note.startswith("Postmark bounce: smtp;550 5.1.1")
    # A bounce is not the reader saying no: their subscriptions and consent record stand.
    assert set(Subscription.objects.values_list("state", flat=True)) == {"active"}
    assert not ConsentEvent.objects.exists()


def test_a_soft_bounce_fails_the_row_without_suppressing() -> None:
    row = sent_row()

    response = post(
        POSTMARK,
        postmark_bounce(
            row,
            "reader@example.com",
            Type="SoftBounce",
            TypeCode=4096,
            Name="Soft bounce/Undeliverable",
            Details="smtp;452 4.2.2 The email account that you tried to reach is over quota.",
        ),
    )

    assert response.status_code == 200
    row.refresh_from_db()
    assert (row.state, "over quota" in row.last_error) == (Row.FAILED, True)
    assert not Suppression.objects.exists()


def test_a_complaint_suppresses_and_unsubscribes_from_every_list_with_a_consent_record() -> None:
    other = MailingListFactory.create(slug="weekend", name="Weekend")
    row = sent_row(other_lists=(other,))

    responses = [post(POSTMARK, postmark_complaint(row)) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("reader@example.com", "complained")
    assert set(Subscription.objects.values_list("state", flat=True)) == {"unsubscribed"}
    event = ConsentEvent.objects.get()  # once, though Postmark sent the event twice
    assert event.kind == ConsentEvent.Kind.UNSUBSCRIBE
    assert event.lists == sorted(["morning", "weekend"])
    assert event.detail == {"method": "Postmark spam complaint"}
    assert event.user_agent == "Postmark tracking webhook"
    row.refresh_from_db()
    assert row.state == Row.SENT  # it was delivered; what the reader did next is noted
    assert "spam" in row.last_error


def test_an_unsubscribe_at_postmark_leaves_only_the_digests_list() -> None:
    other = MailingListFactory.create(slug="weekend", name="Weekend")
    row = sent_row(other_lists=(other,))

    for _ in range(2):
        response = post(POSTMARK, postmark_subscription_change(row, "reader@example.com"))
        assert response.status_code == 200

    states = dict(Subscription.objects.values_list("mailing_list__slug", "state"))
    assert states == {"morning": "unsubscribed", "weekend": "active"}
    event = ConsentEvent.objects.get()
    # The digest it came through, for that digest's report.
    assert (event.lists, event.detail) == (
        ["morning"],
        {"method": "Postmark unsubscribe", "digest": row.digest_id},
    )
    assert not Suppression.objects.exists()


def test_an_unsubscribe_without_metadata_leaves_every_list() -> None:
    other = MailingListFactory.create(slug="weekend", name="Weekend")
    sent_row(email="Reader@Example.com", other_lists=(other,))

    response = post(POSTMARK, postmark_subscription_change(None, "reader@example.com"))

    assert response.status_code == 200
    assert set(Subscription.objects.values_list("state", flat=True)) == {"unsubscribed"}
    assert ConsentEvent.objects.get().lists == ["morning", "weekend"]


def test_a_bounce_without_metadata_still_suppresses_the_address() -> None:
    # A confirmation mail to a mistyped address: nobody in the ledger, but never mail it again.
    response = post(POSTMARK, postmark_bounce(None, "Typo@Exmaple.com"))

    assert response.status_code == 200
    assert Suppression.objects.get().email == "Typo@exmaple.com"


def test_metadata_naming_another_readers_row_touches_only_the_event_recipient() -> None:
    victim = sent_row(email="victim@example.com")
    payload = postmark_bounce(victim, "someone-else@example.com")

    response = post(POSTMARK, payload)

    assert response.status_code == 200
    victim.refresh_from_db()
    assert victim.state == Row.SENT
    assert list(Suppression.objects.values_list("email", flat=True)) == ["someone-else@example.com"]


def test_a_bad_address_rejected_by_postmark_fails_the_row_and_suppresses() -> None:
    row = sent_row()

    response = post(
        POSTMARK,
        postmark_bounce(
            row,
            "reader@example.com",
            Type="BadEmailAddress",
            TypeCode=100000,
            Name="Invalid email address",
            Details="Invalid 'To' address",
        ),
    )

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.state == Row.FAILED
    assert row.last_error.startswith("Rejected by Postmark (invalid;")
    assert Suppression.objects.get().reason == "bounced"


@pytest.mark.parametrize(
    "payload",
    [
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "broadcast",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Recipient": "reader@example.com",
            "Tag": "",
            "DeliveredAt": "2026-11-05T16:34:52Z",
            "Details": "Test delivery webhook details",
            "Metadata": "ROW",
        },
        {
            "RecordType": "Open",
            "MessageStream": "broadcast",
            "FirstOpen": True,
            "Recipient": "reader@example.com",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "ReceivedAt": "2026-11-05T16:35:00Z",
            "Platform": "WebMail",
            "UserAgent": "Mozilla/5.0",
            "Metadata": "ROW",
        },
        {"RecordType": "SomethingNew", "Recipient": "reader@example.com", "Metadata": "ROW"},
        {},
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": 12},
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": "not an address"},
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "Metadata": {"delivery": "99999999999999999999999", "digest": "x"},
        },
        {"RecordType": "Bounce", "Type": "HardBounce", "Metadata": "ROW, OTHER DIGEST"},
    ],
    ids=[
        "delivered",
        "opened",
        "unknown",
        "empty",
        "numeric-email",
        "bad-address",
        "bad-ids",
        "digest-mismatch",
    ],
)
def test_events_that_change_nothing_are_answered_200(payload: dict[str, Any]) -> None:
    row = sent_row()
    if payload.get("Metadata") == "ROW":
        payload = {**payload, "Metadata": metadata(row)}
    elif payload.get("Metadata") == "ROW, OTHER DIGEST":
        payload = {**payload, "Metadata": {**metadata(row), "digest": str(row.digest_id + 1)}}
    before = snapshot()

    response = post(POSTMARK, payload)

    assert response.status_code == 200
    assert snapshot() == before


# --- Mailgun (signed payloads) -------------------------------------------------------------------


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_permanent_failure_fails_the_row_and_suppresses() -> None:
    row = sent_row()
    payload = mailgun(
        {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "recipient": "reader@example.com",
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist",
                "description": "",
            },
            "user-variables": metadata(row),
        }
    )

    response = post(MAILGUN, payload)

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.state == Row.FAILED
    assert "5.1.1 The email account" in row.last_error
    assert Suppression.objects.get().reason == "bounced"


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_complaint_unsubscribes_everywhere() -> None:
    row = sent_row()

    response = post(
        MAILGUN,
        mailgun(
            {
                "event": "complained",
                "recipient": "reader@example.com",
                "user-variables": metadata(row),
            }
        ),
    )

    assert response.status_code == 200
    assert Suppression.objects.get().reason == "complained"
    assert ConsentEvent.objects.get().detail == {"method": "Mailgun spam complaint"}


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_temporary_failure_changes_nothing() -> None:
    row = sent_row()
    before = snapshot()

    response = post(
        MAILGUN,
        mailgun(
            {
                "event": "failed",
                "severity": "temporary",
                "reason": "generic",
                "recipient": "reader@example.com",
                "delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"},
                "user-variables": metadata(row),
            }
        ),
    )

    assert response.status_code == 200
    assert snapshot() == before


# --- The domain function -------------------------------------------------------------------------


def test_tracking_event_apply_names_what_it_did() -> None:
    from anymail.signals import AnymailTrackingEvent

    from newsletters.delivery.tracking import tracking_event_apply

    row = sent_row()
    bounce = AnymailTrackingEvent(
        event_type="bounced",
        recipient="reader@example.com",
        metadata=metadata(row),
        mta_response="550 5.1.1 no such user",
    )
    opened = AnymailTrackingEvent(event_type="opened", recipient="reader@example.com")

    assert tracking_event_apply(event=bounce, esp_name="Postmark") == (
        "row failed, address suppressed (bounced)"
    )
    assert tracking_event_apply(event=opened, esp_name="Postmark") == (
        "Postmark opened event: nothing to do"
    )
    assert Subscriber.objects.get().email == "reader@example.com"
