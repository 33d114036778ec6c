"""A local server that speaks Postmark's POST /email API, and helpers to send digests through it.

The server is real HTTP (a thread with http.server); anymail is pointed at it through EMAIL_URL
(`postmark://TOKEN@?api_url=http://127.0.0.1:PORT/`). It records every JSON body anymail posts
and answers per recipient as Postmark would: accepted, inactive recipient (422/406), invalid
address (422/300), unverified sender (422/400), 429, 500, a wrong token (401), or no answer.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.utils import timezone

from config.environment import email_config_from_url, redact_email_url
from mailinglist.models import MailingList, Subscriber, Subscription
from newsletters import scheduling
from newsletters.delivery import batch, fanout, snapshot
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client
from tests.newsletters.digests import make_digest

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


def esp_settings(email_url: str, **anymail: Any) -> dict[str, Any]:
    config = email_config_from_url(email_url)
    return {
        "EMAIL_BACKEND": config["EMAIL_BACKEND"],
        "EMAIL_URL_REDACTED": redact_email_url(email_url),
        "ANYMAIL": {**config["ANYMAIL"], "REQUESTS_TIMEOUT": 1, **anymail},
    }


def add_readers(mailing_list: MailingList, emails: list[str]) -> list[Subscriber]:
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=email, public_id=f"esp-{n}-{mailing_list.pk}", name=f"Reader {n}")
        for n, email in enumerate(emails)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=s, mailing_list=mailing_list, state=Subscription.State.ACTIVE)
        for s in subscribers
    )
    return subscribers


def sending_digest(emails: list[str]) -> Digest:
    digest = make_digest(stories=2)
    add_readers(digest.mailing_list, emails)
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)
    snapshot.digest_snapshot(digest_id=digest.pk)
    return Digest.objects.get(pk=digest.pk)  # with its frozen render


def send_round(digest: Digest) -> None:
    for block in fanout.batch_ranges(digest_id=digest.pk):
        batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="test"
        )


def a_minute_later(digest: Digest) -> None:
    """A minute on: the halt after a server-wide fault is over and held rows are due again."""
    for key in redis_client().scan_iter(match="newsdesk:halted:*"):
        redis_client().delete(key)
    Delivery.objects.filter(digest=digest, state=Row.PENDING).update(next_attempt_at=None)


def rows_by_email(digest: Digest) -> dict[str, Delivery]:
    return {
        row.subscriber.email: row
        for row in Delivery.objects.filter(digest=digest).select_related("subscriber")
    }
