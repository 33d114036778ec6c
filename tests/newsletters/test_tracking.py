"""ESP tracking webhooks: real Postmark and Mailgun payloads posted to /anymail/<esp>/tracking/.

Django's test client posts what the ESP would (JSON, basic auth in the URL's credentials);
anymail's views parse it and send its tracking signal, and the assertions are on the ledger, the
suppression list, subscriptions and consent records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression
from newsletters.models import Delivery, Digest
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State
SECRET = "hook:s3cret-pass"
POSTMARK = "/anymail/postmark/tracking/"
MAILGUN = "/anymail/mailgun/tracking/"
SIGNING_KEY = "mailgun-signing-key-xyz"


@pytest.fixture(autouse=True)
def _webhook_secret() -> Iterator[None]:
    with override_settings(ANYMAIL={**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}):
        yield


def _auth(secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def _post(url: str, payload: Any, **headers: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return Client().post(url, data=body, content_type="application/json", **(headers or _auth()))


def _sent_row(
    *, email: str = "reader@example.com", other_lists: tuple[MailingList, ...] = ()
) -> Delivery:
    digest = make_digest(stories=1, state=Digest.State.SENT)
    subscriber = SubscriberFactory.create(email=email)
    for mailing_list in (digest.mailing_list, *other_lists):
        SubscriptionFactory.create(subscriber=subscriber, mailing_list=mailing_list)
    return Delivery.objects.create(
        digest=digest, subscriber=subscriber, state=Row.SENT, attempts=1, message_id="m-1"
    )


def _metadata(row: Delivery) -> dict[str, str]:
    return {"digest": str(row.digest_id), "delivery": str(row.pk)}


def _postmark_bounce(row: Delivery | None, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": _metadata(row) if row else {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "newsletter@news.example.com",
        "BouncedAt": "2026-11-05T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Tuesday: harbour park",
        **fields,
    }


def _postmark_complaint(row: Delivery) -> dict[str, Any]:
    return _postmark_bounce(
        row,
        row.subscriber.email,
        RecordType="SpamComplaint",
        Type="SpamComplaint",
        TypeCode=512,
        Name="Spam complaint",
        Description="The subscriber explicitly marked this message as spam.",
        Details="Test spam complaint details",
        CanActivate=False,
    )


def _postmark_subscription_change(row: Delivery | None, email: str) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-11-05T10:53:34.416071Z",
        "Recipient": email,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "",
        "Metadata": _metadata(row) if row else {},
    }


def _snapshot() -> tuple[Any, ...]:
    return (
        sorted(Delivery.objects.values_list("pk", "state", "last_error")),
        sorted(Suppression.objects.values_list("email", "reason", "note")),
        sorted(Subscription.objects.values_list("pk", "state")),
        ConsentEvent.objects.count(),
    )


# --- Postmark ----------------------------------------------------------------------------------


def test_a_hard_bounce_fails_the_row_and_suppresses_the_address_once() -> None:
    row = _sent_row()

    first = _post(POSTMARK, _postmark_bounce(row, "reader@example.com"))
    after_first = _snapshot()
    again = _post(POSTMARK, _postmark_bounce(row, "reader@example.com"))  # Postmark retries

    assert (first.status_code, again.status_code) == (200, 200)
    assert _snapshot() == after_first
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
    row = _sent_row()

    response = _post(
        POSTMARK,
        _postmark_bounce(
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
    row = _sent_row(other_lists=(other,))

    responses = [_post(POSTMARK, _postmark_complaint(row)) for _ in range(2)]

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
    row = _sent_row(other_lists=(other,))

    for _ in range(2):
        response = _post(POSTMARK, _postmark_subscription_change(row, "reader@example.com"))
        assert response.status_code == 200

    states = dict(Subscription.objects.values_list("mailing_list__slug", "state"))
    assert states == {"morning": "unsubscribed", "weekend": "active"}
    event = ConsentEvent.objects.get()
    assert (event.lists, event.detail) == (["morning"], {"method": "Postmark unsubscribe"})
    assert not Suppression.objects.exists()


def test_an_unsubscribe_without_metadata_leaves_every_list() -> None:
    other = MailingListFactory.create(slug="weekend", name="Weekend")
    _sent_row(email="Reader@Example.com", other_lists=(other,))

    response = _post(POSTMARK, _postmark_subscription_change(None, "reader@example.com"))

    assert response.status_code == 200
    assert set(Subscription.objects.values_list("state", flat=True)) == {"unsubscribed"}
    assert ConsentEvent.objects.get().lists == ["morning", "weekend"]


def test_a_bounce_without_metadata_still_suppresses_the_address() -> None:
    # A confirmation mail to a mistyped address: nobody in the ledger, but never mail it again.
    response = _post(POSTMARK, _postmark_bounce(None, "Typo@Exmaple.com"))

    assert response.status_code == 200
    assert Suppression.objects.get().email == "Typo@exmaple.com"


def test_metadata_naming_another_readers_row_touches_only_the_event_recipient() -> None:
    victim = _sent_row(email="victim@example.com")
    payload = _postmark_bounce(victim, "someone-else@example.com")

    response = _post(POSTMARK, payload)

    assert response.status_code == 200
    victim.refresh_from_db()
    assert victim.state == Row.SENT
    assert list(Suppression.objects.values_list("email", flat=True)) == ["someone-else@example.com"]


def test_a_bad_address_rejected_by_postmark_fails_the_row_and_suppresses() -> None:
    row = _sent_row()

    response = _post(
        POSTMARK,
        _postmark_bounce(
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
    row = _sent_row()
    if payload.get("Metadata") == "ROW":
        payload = {**payload, "Metadata": _metadata(row)}
    elif payload.get("Metadata") == "ROW, OTHER DIGEST":
        payload = {**payload, "Metadata": {**_metadata(row), "digest": str(row.digest_id + 1)}}
    before = _snapshot()

    response = _post(POSTMARK, payload)

    assert response.status_code == 200
    assert _snapshot() == before


# --- Refusals: 4xx with JSON, never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (_auth("hook:wrong"), 401),
        ({"HTTP_AUTHORIZATION": "Basic !!!not-base64"}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer hook:s3cret-pass"}, 401),
    ],
    ids=["none", "wrong-password", "garbage", "not-basic"],
)
def test_wrong_credentials_are_refused_and_change_nothing(
    headers: dict[str, Any], status: int
) -> None:
    row = _sent_row()
    before = _snapshot()

    response = Client().post(
        POSTMARK,
        data=json.dumps(_postmark_bounce(row, "reader@example.com")),
        content_type="application/json",
        **headers,
    )

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Missing or wrong credentials for this webhook."}
    assert response["WWW-Authenticate"] == 'Basic realm="anymail"'
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        b"\xff\xfe\x00bad utf-8",
        "[1, 2, 3]",
        '"a string"',
        json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "BouncedAt": 42}),
        json.dumps({"RecordType": "Bounce", "Email": "a@example.com", "Metadata": "text"}),
        json.dumps({"FromFull": {"Email": "x@example.com"}, "Subject": "inbound mail"}),
    ],
    ids=["not-json", "not-utf8", "list", "string", "bad-date", "bad-metadata", "inbound-payload"],
)
def test_a_malformed_body_is_a_400_with_json(body: str | bytes) -> None:
    row = _sent_row()
    before = _snapshot()

    response = _post(POSTMARK, body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Not a Postmark tracking payload")
    assert _snapshot() == before
    assert row.pk


def test_without_a_webhook_secret_every_call_is_refused() -> None:
    row = _sent_row()
    before = _snapshot()

    with override_settings(ANYMAIL={**settings.ANYMAIL, "WEBHOOK_SECRET": []}):
        response = _post(POSTMARK, _postmark_bounce(row, "reader@example.com"))

    assert response.status_code == 403
    assert "ANYMAIL_WEBHOOK_SECRET" in response.json()["detail"]
    assert _snapshot() == before


def test_a_get_is_answered_405_in_json() -> None:
    response = Client().get(POSTMARK, **_auth())

    assert response.status_code == 405
    assert response.json() == {"detail": "Use POST."}


def test_inbound_urls_are_not_mounted() -> None:
    assert Client().post("/anymail/postmark/inbound/", **_auth()).status_code == 404


# --- Mailgun (signed payloads) -------------------------------------------------------------------


def _mailgun(event_data: dict[str, Any], *, key: str = SIGNING_KEY) -> dict[str, Any]:
    timestamp, token = "1764300000", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()},
        "event-data": {
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "timestamp": 1764300000.375624,
            "log-level": "error",
            "tags": [],
            "envelope": {"sender": "bounce@mg.news.example.com", "transport": "smtp"},
            "message": {
                "headers": {
                    "to": "Reader <reader@example.com>",
                    "message-id": "20261128.1@mg.news.example.com",
                    "from": "newsletter@news.example.com",
                    "subject": "Tuesday: harbour park",
                }
            },
            **event_data,
        },
    }


@pytest.fixture
def mailgun_configured() -> Iterator[None]:
    anymail = {
        **settings.ANYMAIL,
        "MAILGUN_API_KEY": "key-123",
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    with override_settings(ANYMAIL=anymail):
        yield


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_permanent_failure_fails_the_row_and_suppresses() -> None:
    row = _sent_row()
    payload = _mailgun(
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
            "user-variables": _metadata(row),
        }
    )

    response = _post(MAILGUN, payload)

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.state == Row.FAILED
    assert "5.1.1 The email account" in row.last_error
    assert Suppression.objects.get().reason == "bounced"


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_complaint_unsubscribes_everywhere() -> None:
    row = _sent_row()

    response = _post(
        MAILGUN,
        _mailgun(
            {
                "event": "complained",
                "recipient": "reader@example.com",
                "user-variables": _metadata(row),
            }
        ),
    )

    assert response.status_code == 200
    assert Suppression.objects.get().reason == "complained"
    assert ConsentEvent.objects.get().detail == {"method": "Mailgun spam complaint"}


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_temporary_failure_changes_nothing() -> None:
    row = _sent_row()
    before = _snapshot()

    response = _post(
        MAILGUN,
        _mailgun(
            {
                "event": "failed",
                "severity": "temporary",
                "reason": "generic",
                "recipient": "reader@example.com",
                "delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"},
                "user-variables": _metadata(row),
            }
        ),
    )

    assert response.status_code == 200
    assert _snapshot() == before


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_payload_with_a_bad_signature_is_refused() -> None:
    row = _sent_row()
    before = _snapshot()
    payload = _mailgun(
        {
            "event": "complained",
            "recipient": "reader@example.com",
            "user-variables": _metadata(row),
        },
        key="not-the-key",
    )

    response = _post(MAILGUN, payload)

    assert response.status_code == 401
    assert _snapshot() == before


def test_an_esp_without_settings_answers_404_not_500() -> None:
    anymail = {k: v for k, v in settings.ANYMAIL.items() if not k.startswith("MAILGUN_")}
    with override_settings(ANYMAIL=anymail):
        response = _post(MAILGUN, _mailgun({"event": "complained"}))

    assert response.status_code == 404
    assert response.json() == {"detail": "No Mailgun tracking webhook is configured here."}


# --- The domain function -------------------------------------------------------------------------


def test_tracking_event_apply_names_what_it_did() -> None:
    from anymail.signals import AnymailTrackingEvent

    from newsletters.tracking import tracking_event_apply

    row = _sent_row()
    bounce = AnymailTrackingEvent(
        event_type="bounced",
        recipient="reader@example.com",
        metadata=_metadata(row),
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
