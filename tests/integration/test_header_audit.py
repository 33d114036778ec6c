"""Header audit: every kind of mail the product sends, through its real path, against one table.

A reader's journey (signup, confirm, a digest, both data links, an address change) and the staff's
mail (a test send, the notice that the digest went, the mail check) run on a real worker with a
real Redis to the SMTP sink, once without BOUNCE_ADDRESS and once with it. Each received message
is parsed with the email package and held to the rules of its row in KINDS: a new kind of mail is
one line there and one step in `_journey`. docs/deliverability.md shows the same table.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from config.celery_app import app as celery_app
from devtools.smtp_sink import Received, SmtpSink
from devtools.workers import QUEUES, database_url, shared_worker_name, suite_worker
from mailinglist import protection, return_path
from mailinglist.models import Subscriber
from newsletters import scheduling
from newsletters.delivery import dispatch
from operations.mailcheck import mail_check_create
from tests.factories import MailingListFactory
from tests.mail_links import mail_link
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.integration
HOST = "news.example"  # SITE_URL's host in the worker: neither its machine name nor the From's
BOUNCES = f"bounces@{HOST}"


@dataclass(frozen=True)
class Kind:
    # bulk: a digest's headers (one-click, Precedence: bulk allowed); transactional: a reader's
    # own mail; staff: no List-* at all.
    headers: Literal["bulk", "transactional", "staff"]
    # With BOUNCE_ADDRESS set, the envelope sender is: "reader" their signed return path;
    # "bounces" BOUNCE_ADDRESS unsigned (the mail goes to an address that is not the reader's);
    # "from" the From address; "any" not audited (a staff copy of a digest).
    return_path: Literal["reader", "bounces", "from", "any"]


KINDS = {
    "confirmation": Kind("transactional", "reader"),
    "welcome": Kind("transactional", "reader"),
    "digest": Kind("bulk", "reader"),
    "test send": Kind("bulk", "any"),
    "staff notice": Kind("staff", "from"),
    "mail check": Kind("staff", "from"),
    "data export link": Kind("transactional", "reader"),
    "data erase link": Kind("transactional", "reader"),
    "address change link": Kind("transactional", "bounces"),
    "address changed notice": Kind("transactional", "bounces"),
}


@dataclass(frozen=True)
class Sent:
    kind: Kind
    received: Received
    reader_id: int
    bounce_address: str


def _uris(value: str | None) -> list[str]:
    return re.findall(r"<([^>]+)>", value or "")


def _parts(sent: Sent) -> tuple[str, str]:
    message = sent.received.message
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a text and an HTML part"
    return text.get_content(), html.get_content()


def _message_id(sent: Sent) -> str | None:
    value = sent.received.message["Message-ID"] or ""
    if re.fullmatch(rf"<[^@<>\s]+@{re.escape(HOST)}>", value.strip()) is None:
        return f"Message-ID {value!r} is not on {HOST}"
    return None


def _date(sent: Sent) -> str | None:
    date = sent.received.message["Date"]
    return None if date is not None and date.datetime is not None else "no valid Date"


def _list_id(sent: Sent) -> str | None:
    value = sent.received.message["List-Id"]
    if sent.kind.headers == "staff":
        return None if value is None else f"staff mail carries List-Id {value}"
    return None if (value or "").endswith(f"<daily.{HOST}>") else f"List-Id {value!r}"


def _list_unsubscribe(sent: Sent) -> str | None:
    uris = _uris(sent.received.message["List-Unsubscribe"])
    if sent.kind.headers == "staff":
        return f"staff mail carries List-Unsubscribe {uris}" if uris else None
    if not uris or not uris[0].startswith(f"https://{HOST}/unsubscribe/"):
        return f"List-Unsubscribe {uris} does not start with our https unsubscribe link"
    return None


def _one_click(sent: Sent) -> str | None:
    value = sent.received.message["List-Unsubscribe-Post"]
    if sent.kind.headers == "bulk":
        return None if value == "List-Unsubscribe=One-Click" else f"List-Unsubscribe-Post {value!r}"
    return None if value is None else "RFC 8058 one-click on mail that is not bulk"


def _precedence(sent: Sent) -> str | None:
    value = (sent.received.message["Precedence"] or "").strip().lower()
    return (
        "Precedence: bulk on transactional mail" if value and sent.kind.headers != "bulk" else None
    )


def _visible_unsubscribe(sent: Sent) -> str | None:
    if sent.kind.headers == "staff":
        return None
    uris = _uris(sent.received.message["List-Unsubscribe"])
    text, html = _parts(sent)
    link = uris[0] if uris else "(none)"
    if link not in text or (link not in html and link.replace("&", "&amp;") not in html):
        return f"the unsubscribe link {link} is not in both the text and the HTML"
    return None


def _postal_address(sent: Sent) -> str | None:
    if sent.kind.headers == "staff":
        return None
    text, html = _parts(sent)
    address = str(settings.MAILING_ADDRESS)
    return None if address in text and address in html else "no postal address in both parts"


def _return_path(sent: Sent) -> str | None:
    if sent.kind.return_path == "any":
        return None
    envelope = sent.received.mail_from
    from_address = sent.received.message["From"].addresses[0].addr_spec
    expected = sent.kind.return_path if sent.bounce_address else "from"
    ref = return_path.signed_ref_read(envelope)
    if expected == "reader":
        kind = "b" if sent.kind.headers == "bulk" else "t"
        good = ref is not None and (ref.kind, ref.subscriber_id) == (kind, sent.reader_id)
        good = good and envelope.endswith(f"@{HOST}")
        return None if good else f"envelope {envelope!r} is not the reader's signed {kind}-path"
    if expected == "bounces":
        return None if envelope == sent.bounce_address else f"envelope {envelope!r}"
    return None if envelope == from_address and ref is None else f"envelope {envelope!r}"


def _mailto_unsubscribe(sent: Sent) -> str | None:
    if sent.kind.headers != "bulk" or sent.kind.return_path != "reader" or not sent.bounce_address:
        return None
    mailtos = _uris(sent.received.message["List-Unsubscribe"])[1:]
    address = mailtos[0].removeprefix("mailto:").partition("?")[0] if mailtos else ""
    ref = return_path.signed_ref_read(address)
    return None if ref is not None and ref.kind == "u" else "no signed mailto: after the https"


RULES: dict[str, Callable[[Sent], str | None]] = {
    "message id": _message_id,
    "date": _date,
    "list id": _list_id,
    "list unsubscribe": _list_unsubscribe,
    "one click": _one_click,
    "no precedence bulk": _precedence,
    "visible unsubscribe": _visible_unsubscribe,
    "postal address": _postal_address,
    "return path": _return_path,
    "mailto unsubscribe": _mailto_unsubscribe,
}


@pytest.fixture(params=["", BOUNCES], ids=["no-bounce-address", "bounce-address"])
def audit_worker(
    request: pytest.FixtureRequest, transactional_db: None, smtp_sink: SmtpSink
) -> Iterator[str]:
    """A worker of its own with SITE_URL on HOST (and BOUNCE_ADDRESS or not); the suite's worker
    stops taking tasks meanwhile. Depends on transactional_db: it stops before the flush."""
    bounce_address: str = request.param
    shared = [shared_worker_name()]
    queues = QUEUES.split(",")
    for queue in queues:
        celery_app.control.cancel_consumer(queue, destination=shared, reply=True, timeout=1)
    env = {
        **os.environ,
        "DEBUG": "on",
        "DATABASE_URL": database_url(connection.settings_dict),
        "EMAIL_URL": smtp_sink.url,
        "REDIS_URL": settings.REDIS_URL,
        "SITE_URL": f"https://{HOST}",
        "BOUNCE_ADDRESS": bounce_address,
        "PYTHONUNBUFFERED": "1",
    }
    worker = suite_worker(env=env, name=f"audit-{os.getpid()}@localhost")
    worker.start()
    try:
        yield bounce_address
    finally:
        worker.wait_until_idle()
        worker.stop()
        for queue in queues:
            celery_app.control.add_consumer(queue, destination=shared, reply=True, timeout=1)


def _take(sink: SmtpSink, taken: list[Received], to: str, subject: str) -> Received:
    """The one new message to `to` whose subject starts with `subject`, once it arrives."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        for received in sink.received:
            subject_now = received.message["Subject"] or ""
            is_new = all(received is not other for other in taken)
            if is_new and received.rcpt_tos == [to] and subject_now.startswith(subject):
                taken.append(received)
                return received
        time.sleep(0.1)
    got = [(r.rcpt_tos, r.message["Subject"]) for r in sink.received]
    raise AssertionError(f"no mail to {to} starting {subject!r} within 45 s; got {got}")


def _journey(sink: SmtpSink, client: Client, staff: User) -> tuple[dict[str, Received], int]:
    """Every kind of mail, each sent the way the product sends it; returns them and the
    reader's id."""
    taken: list[Received] = []
    got: dict[str, Received] = {}
    daily = MailingListFactory.create(slug="daily", name="The Daily", is_welcome_enabled=True)
    ada = "ada@example.com"

    response = client.post(
        "/subscribe/",
        {
            "email": ada,
            "lists": ["daily"],
            "form_token": protection.form_token_make(now=time.time() - 10),
        },
        REMOTE_ADDR="198.51.100.40",
    )
    assert response.status_code == 302
    got["confirmation"] = _take(sink, taken, ada, "Confirm your subscription")
    assert client.post(mail_link(got["confirmation"], "/confirm/")).status_code == 200
    got["welcome"] = _take(sink, taken, ada, "Welcome to The Daily")
    reader = Subscriber.objects.get(email=ada)

    digest = make_digest(stories=2, mailing_list=daily)
    client.force_login(staff)
    assert client.post(f"/admin/newsletters/digest/{digest.pk}/test/").status_code == 302
    got["test send"] = _take(sink, taken, staff.email, "[TEST] ")
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=staff)
    assert dispatch.digests_dispatch_due() == [digest.pk]
    got["digest"] = _take(sink, taken, ada, digest.subject)
    got["staff notice"] = _take(sink, taken, staff.email, "Sent: ")
    mail_check_create(recipient="ops@example.com", requested_by=staff)
    got["mail check"] = _take(sink, taken, "ops@example.com", "Mail check")

    # The page itself, without ?lang=: the buttons post to paths below it.
    preferences = mail_link(got["welcome"], "/preferences/").partition("?")[0]
    assert client.post(preferences + "export/").status_code == 302
    got["data export link"] = _take(sink, taken, ada, "Your link to download your data")
    assert client.post(preferences + "erase/").status_code == 302
    got["data erase link"] = _take(sink, taken, ada, "Your link to delete your data")
    new = "ada@example.org"
    assert client.post(preferences + "address/", {"email": new}).status_code == 302
    got["address change link"] = _take(sink, taken, new, "Confirm your new address")
    change = mail_link(got["address change link"], "/address/")
    assert client.post(change).status_code == 200
    got["address changed notice"] = _take(sink, taken, ada, "Your newsletters now go to")
    return got, reader.pk


def test_every_mail_carries_the_headers_its_kind_requires(
    audit_worker: str, smtp_sink: SmtpSink, client: Client, staff_user: User
) -> None:
    received, reader_id = _journey(smtp_sink, client, staff_user)
    assert set(received) == set(KINDS), "every kind in the table was sent"

    problems: dict[tuple[str, str], str] = {}
    for name, kind in KINDS.items():
        sent = Sent(kind, received[name], reader_id, audit_worker)
        for rule, check in RULES.items():
            problem = check(sent)
            if problem is not None:
                problems[(name, rule)] = problem

    assert problems == {}
