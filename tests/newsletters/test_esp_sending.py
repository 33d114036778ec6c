"""Digests sent through django-anymail to the local Postmark server: what each answer becomes."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from mailinglist.models import Suppression
from newsletters.delivery import controls, progress, throttle
from newsletters.models import Delivery, Digest
from operations import transport
from operations.redis_client import redis_client
from operations.transport import esp
from tests.newsletters.esp_server import (
    BACKEND,
    TOKEN,
    PostmarkServer,
    a_minute_later,
    esp_settings,
    rows_by_email,
    send_round,
    sending_digest,
)

Row = Delivery.State


@pytest.fixture
def postmark() -> Iterator[PostmarkServer]:
    server = PostmarkServer().start()
    redis_client().delete(throttle.KEY_PREFIX + BACKEND)
    with override_settings(**esp_settings(server.email_url)):
        yield server
    transport.transport_close()
    server.stop()
    redis_client().delete(throttle.KEY_PREFIX + BACKEND)


@pytest.mark.django_db
def test_each_reader_gets_one_post_with_both_bodies_list_headers_and_metadata(
    postmark: PostmarkServer, django_capture_on_commit_callbacks: Any
) -> None:
    emails = ["ada@example.com", "bo@example.com", "cy@example.com"]
    with django_capture_on_commit_callbacks(execute=False):
        digest = sending_digest(emails)

    send_round(digest)

    rows = rows_by_email(digest)
    assert {email: row.state for email, row in rows.items()} == dict.fromkeys(emails, Row.SENT)
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENT
    assert len(postmark.requests) == 3
    assert {r["path"] for r in postmark.requests} == {"/email"}
    assert {r["token"] for r in postmark.requests} == {TOKEN}
    for email in emails:
        (body,) = postmark.bodies_to(email)
        row = rows[email]
        headers = {h["Name"]: h["Value"] for h in body["Headers"]}
        assert body["Metadata"] == {"digest": str(digest.pk), "delivery": str(row.pk)}
        assert body["Subject"] == digest.rendered_subject
        assert body["From"] == str(settings.DEFAULT_FROM_EMAIL)
        assert headers["Message-ID"] == f"<{row.message_id}@127.0.0.1>"
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert headers["List-Id"] == '"The Morning Briefing" <morning.127.0.0.1>'
        assert headers["Precedence"] == "bulk"
        assert not {"Content-Type", "MIME-Version", "To", "Subject"} & set(headers)
        unsubscribe = headers["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(f"{settings.SITE_URL}/unsubscribe/")
        # The reader's own link and greeting in both bodies, the slots all filled.
        for part in (body["TextBody"], body["HtmlBody"]):
            assert unsubscribe in part
            assert "slot.newsdesk.invalid" not in part and "NEWSDESK-SLOT" not in part
        assert f"Hello Reader {emails.index(email)}," in body["TextBody"]
        assert "<html" in body["HtmlBody"].lower()
        assert "Story number 1 about the harbour &amp; the city" in body["HtmlBody"]
        assert "Story number 1 about the harbour & the city" in body["TextBody"]
        assert "lets the sea back in — " in body["TextBody"]  # 8-bit UTF-8 decoded
        assert "lets the sea back in —" in body["HtmlBody"]
    # Each reader's unsubscribe link is their own.
    links = {
        {h["Name"]: h["Value"] for h in r["json"]["Headers"]}["List-Unsubscribe"]
        for r in postmark.requests
    }
    assert len(links) == 3


def test_the_prepared_message_keeps_unicode_reply_to_and_every_custom_header() -> None:
    message = EmailMessage()
    message["Subject"] = "Élections : ce qu'il faut savoir, été"
    message["From"] = '"Le Matin" <matin@news.example.com>'
    message["To"] = "zoe@example.com"
    message["Reply-To"] = "desk@news.example.com"
    message["List-Id"] = '"Le Matin" <matin.news.example.com>'
    message["X-Campaign"] = "morning-42"
    message.set_content("Bonjour Zoé,\n\nLes nouvelles.\n")
    message.add_alternative("<p>Bonjour Zoé,</p>", subtype="html")

    built = esp.esp_message_build(
        raw=message.as_bytes(),
        from_address="matin@news.example.com",
        to="zoe@example.com",
        metadata={"digest": "1", "delivery": "2"},
    )

    assert built.subject == "Élections : ce qu'il faut savoir, été"
    assert built.from_email == "Le Matin <matin@news.example.com>"
    assert built.to == ["zoe@example.com"]
    assert built.reply_to == ["desk@news.example.com"]
    assert built.body == "Bonjour Zoé,\n\nLes nouvelles.\n"
    assert built.alternatives[0][0] == "<p>Bonjour Zoé,</p>\n"
    assert built.extra_headers == {
        "List-Id": '"Le Matin" <matin.news.example.com>',
        "X-Campaign": "morning-42",
    }
    assert built.metadata == {"digest": "1", "delivery": "2"}  # type: ignore[attr-defined]


@pytest.mark.django_db
@override_settings(DELIVERY_RETRY_BASE_SECONDS=0)  # retry at once: the test drives the rounds
def test_postmark_answers_become_sent_retried_or_failed(
    postmark: PostmarkServer, django_capture_on_commit_callbacks: Any
) -> None:
    postmark.plans = {
        "inactive@example.com": ["inactive"],
        "invalid@example.com": ["invalid"],
        "policy@example.com": ["policy"],
        "busy@example.com": ["429", "429"],
        "down@example.com": ["500", "500", "500"],
        "hung@example.com": ["hang"],
    }
    emails = [*postmark.plans, "fine@example.com"]
    with django_capture_on_commit_callbacks(execute=False):
        digest = sending_digest(emails)

    send_round(digest)

    rows = rows_by_email(digest)
    # Never: Postmark will not send to these addresses.
    assert rows["inactive@example.com"].state == Row.FAILED
    assert "Postmark rejected it" in rows["inactive@example.com"].last_error
    assert "inactive" in rows["inactive@example.com"].last_error
    assert rows["invalid@example.com"].state == Row.FAILED
    assert "invalid address" in rows["invalid@example.com"].last_error
    assert rows["policy@example.com"].state == Row.FAILED
    assert "HTTP 422" in rows["policy@example.com"].last_error
    # 429: the ESP's fault, not the reader's: no attempt counted, and the batch stops there
    # (rows after it wait, untried) rather than hammering a server that said slow down.
    assert (rows["busy@example.com"].state, rows["busy@example.com"].attempts) == (Row.PENDING, 0)
    assert "HTTP 429" in rows["busy@example.com"].last_error
    assert postmark.attempts["down@example.com"] == 0
    assert throttle.throttle_effective_rate(backend_key=BACKEND, rate=10) < 10
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENDING  # no one must act
    # Only the invalid address is suppressed (RFC 5321 553); an inactive one is Postmark's
    # own suppression, whose reason (bounce, complaint, unsubscribe) its webhook reports.
    assert set(Suppression.objects.values_list("email", flat=True)) == {"invalid@example.com"}

    errors = set()
    for _ in range(10):  # each round stops at the next 429, 500 or unanswered request
        a_minute_later(digest)
        send_round(digest)
        errors |= {row.last_error for row in Delivery.objects.filter(state=Row.PENDING)}
        if not Delivery.objects.filter(digest=digest, state=Row.PENDING).exists():
            break

    rows = rows_by_email(digest)
    assert {email for email, row in rows.items() if row.state == Row.SENT} == {
        "busy@example.com",
        "down@example.com",
        "hung@example.com",
        "fine@example.com",
    }
    assert any("HTTP 500" in error for error in errors)
    assert any(
        error.startswith(
            "Could not reach Postmark (EMAIL_URL postmark://***@?api_url=http://127.0.0.1:"
            f"{postmark.port}/)"
        )
        for error in errors
    )
    # Three 500s and one success: one attempt counted against the reader, four requests made.
    assert (rows["down@example.com"].attempts, postmark.attempts["down@example.com"]) == (1, 4)
    assert postmark.attempts["inactive@example.com"] == 1  # failed rows are never retried
    counts = progress.digest_counts(digest_id=digest.pk)
    assert (counts["sent"], counts["failed"], counts["total"]) == (4, 3, 7)
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENT
    assert all(TOKEN not in row.last_error for row in rows.values())


@pytest.mark.django_db
@override_settings(DELIVERY_RETRY_BASE_SECONDS=0)
def test_a_wrong_api_key_or_unverified_sender_pauses_the_digest_and_fails_nobody(
    postmark: PostmarkServer, django_capture_on_commit_callbacks: Any
) -> None:
    emails = [f"r{n}@example.com" for n in range(5)]
    with django_capture_on_commit_callbacks(execute=False):
        digest = sending_digest(emails)
    postmark.plans = {"r4@example.com": ["sender"]}

    with override_settings(**esp_settings(postmark.email_url.replace(TOKEN, "wrong-token"))):
        send_round(digest)

    rows = rows_by_email(digest)
    assert {email: row.state for email, row in rows.items()} == dict.fromkeys(emails, Row.PENDING)
    assert {row.attempts for row in rows.values()} == {0}
    assert (
        "Postmark refused the credentials in EMAIL_URL (HTTP 401)"
        in rows["r0@example.com"].last_error
    )
    assert "wrong-token" not in rows["r0@example.com"].last_error
    assert [r["token"] for r in postmark.requests] == ["wrong-token"]  # one try, not five
    paused = Digest.objects.get(pk=digest.pk)
    assert paused.state == Digest.State.PAUSED
    assert "Paused automatically: Postmark refused the credentials" in paused.events.get().detail

    # The operator fixes EMAIL_URL (the fixture's settings are back) and resumes.
    with django_capture_on_commit_callbacks(execute=False):
        controls.digest_resume(digest_id=digest.pk, by=None)
    a_minute_later(digest)
    send_round(digest)

    rows = rows_by_email(digest)
    assert {rows[e].state for e in emails[:4]} == {Row.SENT}
    assert rows["r4@example.com"].state == Row.PENDING  # unverified sender: not this reader's fault
    assert "not a Sender Signature" in rows["r4@example.com"].last_error
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.PAUSED
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_message_send_keeps_one_http_connection_for_many_messages(
    postmark: PostmarkServer, django_capture_on_commit_callbacks: Any
) -> None:
    ports: set[int] = set()
    original = postmark.httpd.RequestHandlerClass

    class Recording(original):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            ports.add(self.client_address[1])
            super().setup()

    postmark.httpd.RequestHandlerClass = Recording
    raw = (
        b"From: news@example.com\r\nTo: a@example.com\r\nSubject: Hi\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    )
    outcomes = [
        transport.message_send(
            from_address="news@example.com", to=f"a{n}@example.com", raw=raw, metadata={}
        )
        for n in range(5)
    ]

    assert all(outcome.ok for outcome in outcomes)
    assert len(postmark.requests) == 5
    assert len(ports) == 1  # one kept-alive connection (client port) for all five
