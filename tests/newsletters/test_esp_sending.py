"""Digests sent through django-anymail to a local server that speaks Postmark's /email API.

The server is real HTTP (a thread with http.server); anymail is pointed at it through EMAIL_URL
(`postmark://TOKEN@?api_url=http://127.0.0.1:PORT/`). It records every JSON body anymail posts
and answers per recipient as Postmark would: accepted, inactive recipient (422/406), invalid
address (422/300), unverified sender (422/400), 429, 500, a wrong token (401), or no answer.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from config.celery_app import app as celery_app
from config.environment import email_config_from_url, redact_email_url
from mailinglist.models import MailingList, Subscriber, Subscription, Suppression
from newsletters import batches, controls, esp, progress, scheduling, senders, sending, throttle
from newsletters.models import Delivery, Digest
from operations.heartbeat import redis_client
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest
from tests.polling import wait_until
from tests.worker_process import WorkerProcess, database_url

Row = Delivery.State
TOKEN = "pm-server-token-1234"
BACKEND = "anymail.backends.postmark.EmailBackend"


@dataclass
class PostmarkServer:
    """Enough of Postmark's POST /email: checks the token, answers per recipient, records."""

    token: str = TOKEN
    # recipient → list of answers for its successive attempts ("accept" once they run out)
    plans: dict[str, list[str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hang_seconds: float = 3.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def email_url(self) -> str:
        return f"postmark://{self.token}@?api_url=http://127.0.0.1:{self.port}/"

    def start(self) -> PostmarkServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def bodies_to(self, address: str) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests if r["json"].get("To") == address]

    def _answer(self, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any] | None]:
        to = str(body.get("To", ""))
        if token != self.token:
            return 401, {
                "ErrorCode": 10,
                "Message": "The Server Token you provided in the X-Postmark-Server-Token "
                "request header was invalid. Please verify that you are using a valid token.",
            }
        with self._lock:
            self.attempts[to] += 1
            plan = self.plans.get(to, [])
            step = plan[self.attempts[to] - 1] if self.attempts[to] <= len(plan) else "accept"
        if step == "accept":
            return 200, {
                "To": to,
                "SubmittedAt": timezone.now().isoformat(),
                "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0,
                "Message": "OK",
            }
        if step == "inactive":
            return 422, {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as "
                f"inactive. Found inactive addresses: {to.lower()}. Inactive recipients are "
                "ones that have generated a hard bounce, a spam complaint, or a manual "
                "suppression.",
            }
        if step == "invalid":
            return 422, {"ErrorCode": 300, "Message": f"Invalid 'To' address: '{to}'."}
        if step == "policy":
            return 422, {"ErrorCode": 1234, "Message": f"Sending to {to} is blocked by policy."}
        if step == "sender":
            return 422, {
                "ErrorCode": 400,
                "Message": "The 'From' address you supplied is not a Sender Signature on "
                "your account or domain. Please add and confirm this address.",
            }
        if step == "429":
            return 429, {"ErrorCode": 429, "Message": "Rate limit exceeded."}
        if step == "500":
            return 500, {"ErrorCode": 500, "Message": "Internal server error."}
        if step == "hang":
            time.sleep(self.hang_seconds)
            return 500, None
        raise AssertionError(f"unknown plan step {step!r}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real API server

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw)
                token = self.headers.get("X-Postmark-Server-Token", "")
                with server._lock:
                    server.requests.append({"path": self.path, "json": body, "token": token})
                status, answer = server._answer(body, token)
                if answer is None:  # hung up: the client times out or sees the reset
                    self.close_connection = True
                    return
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _esp_settings(email_url: str, **anymail: Any) -> dict[str, Any]:
    config = email_config_from_url(email_url)
    return {
        "EMAIL_BACKEND": config["EMAIL_BACKEND"],
        "EMAIL_URL_REDACTED": redact_email_url(email_url),
        "ANYMAIL": {**config["ANYMAIL"], "REQUESTS_TIMEOUT": 1, **anymail},
    }


@pytest.fixture
def postmark() -> Iterator[PostmarkServer]:
    server = PostmarkServer().start()
    redis_client().delete(throttle.KEY_PREFIX + BACKEND)
    with override_settings(**_esp_settings(server.email_url)):
        yield server
    senders.sender_close()
    server.stop()
    redis_client().delete(throttle.KEY_PREFIX + BACKEND)


def _readers(mailing_list: MailingList, emails: list[str]) -> list[Subscriber]:
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=email, public_id=f"esp-{n}-{mailing_list.pk}", name=f"Reader {n}")
        for n, email in enumerate(emails)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=s, mailing_list=mailing_list, state=Subscription.State.ACTIVE)
        for s in subscribers
    )
    return subscribers


def _sending_digest(emails: list[str]) -> Digest:
    digest = make_digest(stories=2)
    _readers(digest.mailing_list, emails)
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)
    sending.digest_snapshot(digest_id=digest.pk)
    return Digest.objects.get(pk=digest.pk)  # with its frozen render


def _round(digest: Digest) -> None:
    for batch in sending.batch_ranges(digest_id=digest.pk):
        batches.batch_send(
            digest_id=digest.pk, first_id=batch.first_id, last_id=batch.last_id, worker="test"
        )


def _later(digest: Digest) -> None:
    """A minute on: the halt after a server-wide fault is over and held rows are due again."""
    for key in redis_client().scan_iter(match="newsdesk:halted:*"):
        redis_client().delete(key)
    Delivery.objects.filter(digest=digest, state=Row.PENDING).update(next_attempt_at=None)


def _rows(digest: Digest) -> dict[str, Delivery]:
    return {
        row.subscriber.email: row
        for row in Delivery.objects.filter(digest=digest).select_related("subscriber")
    }


@pytest.mark.django_db
def test_each_reader_gets_one_post_with_both_bodies_list_headers_and_metadata(
    postmark: PostmarkServer, django_capture_on_commit_callbacks: Any
) -> None:
    emails = ["ada@example.com", "bo@example.com", "cy@example.com"]
    with django_capture_on_commit_callbacks(execute=False):
        digest = _sending_digest(emails)

    _round(digest)

    rows = _rows(digest)
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
        digest = _sending_digest(emails)

    _round(digest)

    rows = _rows(digest)
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
        _later(digest)
        _round(digest)
        errors |= {row.last_error for row in Delivery.objects.filter(state=Row.PENDING)}
        if not Delivery.objects.filter(digest=digest, state=Row.PENDING).exists():
            break

    rows = _rows(digest)
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
        digest = _sending_digest(emails)
    postmark.plans = {"r4@example.com": ["sender"]}

    with override_settings(**_esp_settings(postmark.email_url.replace(TOKEN, "wrong-token"))):
        _round(digest)

    rows = _rows(digest)
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
    _later(digest)
    _round(digest)

    rows = _rows(digest)
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
        senders.message_send(
            from_address="news@example.com", to=f"a{n}@example.com", raw=raw, metadata={}
        )
        for n in range(5)
    ]

    assert all(outcome.ok for outcome in outcomes)
    assert len(postmark.requests) == 5
    assert len(ports) == 1  # one kept-alive connection (client port) for all five


# --- A real worker ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def esp_worker(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[PostmarkServer, WorkerProcess]]:
    from django.db import connection

    server = PostmarkServer().start()
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    # The suite's own worker (if one runs) must leave this module's batches to this worker.
    shared = f"pytest-{os.getpid()}@localhost"
    celery_app.control.cancel_consumer("bulk", destination=[shared], reply=True, timeout=1)
    worker = WorkerProcess(
        env={
            **os.environ,
            "DEBUG": "on",
            "DATABASE_URL": db_url,
            "EMAIL_URL": server.email_url,
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
        },
        name=f"esp-{os.getpid()}@localhost",
        queues="bulk",
    )
    worker.start()
    yield server, worker
    worker.stop()
    server.stop()
    celery_app.control.add_consumer("bulk", destination=[shared], reply=True, timeout=1)


@pytest.mark.integration
def test_a_worker_sends_a_scheduled_digest_through_the_esp(
    esp_worker: tuple[PostmarkServer, WorkerProcess], transactional_db: None
) -> None:
    server, worker = esp_worker
    mailing_list = MailingListFactory.create(name="Evening", slug="evening")
    digest = make_digest(stories=2, mailing_list=mailing_list)
    emails = [f"evening{n}@example.com" for n in range(30)]
    _readers(mailing_list, emails)
    server.plans = {"evening7@example.com": ["invalid"]}
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)

    assert sending.digests_dispatch_due() == [digest.pk]  # what the beat tick does
    wait_until(
        lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(),
        timeout=120,
    )

    rows = _rows(digest)
    assert {e for e, r in rows.items() if r.state == Row.SENT} == set(emails) - {
        "evening7@example.com"
    }
    assert rows["evening7@example.com"].state == Row.FAILED
    assert Suppression.objects.filter(email="evening7@example.com").exists()
    assert len(server.requests) == 30
    echoed = {r["json"]["To"]: r["json"]["Metadata"] for r in server.requests}
    assert echoed == {
        email: {"digest": str(digest.pk), "delivery": str(row.pk)} for email, row in rows.items()
    }
    assert worker.process is not None and worker.process.poll() is None
