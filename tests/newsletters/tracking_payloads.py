"""ESP tracking payloads (Postmark, signed Mailgun), and helpers to post them and compare state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from django.test import Client

from mailinglist.models import ConsentEvent, MailingList, Subscription, Suppression
from newsletters.models import Delivery, Digest
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest

Row = Delivery.State
SECRET = "hook:s3cret-pass"
POSTMARK = "/anymail/postmark/tracking/"
MAILGUN = "/anymail/mailgun/tracking/"
SIGNING_KEY = "mailgun-signing-key-xyz"


def auth(secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post(url: str, payload: Any, **headers: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return Client().post(url, data=body, content_type="application/json", **(headers or auth()))


def sent_row(
    *, email: str = "reader@example.com", other_lists: tuple[MailingList, ...] = ()
) -> Delivery:
    digest = make_digest(stories=1, state=Digest.State.SENT)
    subscriber = SubscriberFactory.create(email=email)
    for mailing_list in (digest.mailing_list, *other_lists):
        SubscriptionFactory.create(subscriber=subscriber, mailing_list=mailing_list)
    return Delivery.objects.create(
        digest=digest, subscriber=subscriber, state=Row.SENT, attempts=1, message_id="m-1"
    )


def metadata(row: Delivery) -> dict[str, str]:
    return {"digest": str(row.digest_id), "delivery": str(row.pk)}


def postmark_bounce(row: Delivery | None, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": metadata(row) if row else {},
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


def postmark_complaint(row: Delivery) -> dict[str, Any]:
    return postmark_bounce(
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


def postmark_subscription_change(row: Delivery | None, email: str) -> dict[str, Any]:
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
        "Metadata": metadata(row) if row else {},
    }


def snapshot() -> tuple[Any, ...]:
    return (
        sorted(Delivery.objects.values_list("pk", "state", "last_error")),
        sorted(Suppression.objects.values_list("email", "reason", "note")),
        sorted(Subscription.objects.values_list("pk", "state")),
        ConsentEvent.objects.count(),
    )


def mailgun(event_data: dict[str, Any], *, key: str = SIGNING_KEY) -> dict[str, Any]:
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
