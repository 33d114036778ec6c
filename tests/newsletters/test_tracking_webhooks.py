"""ESP tracking webhook HTTP answers: credentials, signatures, malformed bodies, methods, routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.newsletters.tracking_payloads import (
    MAILGUN,
    POSTMARK,
    auth,
    mailgun,
    metadata,
    post,
    postmark_bounce,
    sent_row,
    snapshot,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]


# --- Refusals: 4xx with JSON, never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (auth("hook:wrong"), 401),
        ({"HTTP_AUTHORIZATION": "Basic !!!not-base64"}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer hook:s3cret-pass"}, 401),
    ],
    ids=["none", "wrong-password", "garbage", "not-basic"],
)
def test_wrong_credentials_are_refused_and_change_nothing(
    headers: dict[str, Any], status: int
) -> None:
    row = sent_row()
    before = snapshot()

    response = Client().post(
        POSTMARK,
        data=json.dumps(postmark_bounce(row, "reader@example.com")),
        content_type="application/json",
        **headers,
    )

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Missing or wrong credentials for this webhook."}
    assert response["WWW-Authenticate"] == 'Basic realm="anymail"'
    assert snapshot() == before


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
    row = sent_row()
    before = snapshot()

    response = post(POSTMARK, body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Not a Postmark tracking payload")
    assert snapshot() == before
    assert row.pk


def test_without_a_webhook_secret_every_call_is_refused() -> None:
    row = sent_row()
    before = snapshot()

    with override_settings(ANYMAIL={**settings.ANYMAIL, "WEBHOOK_SECRET": []}):
        response = post(POSTMARK, postmark_bounce(row, "reader@example.com"))

    assert response.status_code == 403
    assert "ANYMAIL_WEBHOOK_SECRET" in response.json()["detail"]
    assert snapshot() == before


def test_a_get_is_answered_405_in_json() -> None:
    response = Client().get(POSTMARK, **auth())

    assert response.status_code == 405
    assert response.json() == {"detail": "Use POST."}


def test_inbound_urls_are_not_mounted() -> None:
    assert Client().post("/anymail/postmark/inbound/", **auth()).status_code == 404


@pytest.mark.usefixtures("mailgun_configured")
def test_a_mailgun_payload_with_a_bad_signature_is_refused() -> None:
    row = sent_row()
    before = snapshot()
    payload = mailgun(
        {
            "event": "complained",
            "recipient": "reader@example.com",
            "user-variables": metadata(row),
        },
        key="not-the-key",
    )

    response = post(MAILGUN, payload)

    assert response.status_code == 401
    assert snapshot() == before


def test_an_esp_without_settings_answers_404_not_500() -> None:
    anymail = {k: v for k, v in settings.ANYMAIL.items() if not k.startswith("MAILGUN_")}
    with override_settings(ANYMAIL=anymail):
        response = post(MAILGUN, mailgun({"event": "complained"}))

    assert response.status_code == 404
    assert response.json() == {"detail": "No Mailgun tracking webhook is configured here."}
