"""The Publisher hears how their send ended: a mail, and a message on their next admin page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from devtools.ports import free_port
from devtools.smtp_sink import SmtpSink
from newsletters.delivery import notices
from newsletters.delivery.ledger import digest_event
from newsletters.models import Digest
from operations import transport
from tests.mail_transport import transport_to
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(db: None) -> User:
    return User.objects.create_user(
        username="pub", email="pub@newsroom.example", password="pw-1-for-tests", is_staff=True
    )


@pytest.fixture
def smtp(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    """The sink as EMAIL_URL, reached through the product's one transport."""
    with transport_to(smtp_sink.port):
        yield smtp_sink


def test_a_finished_send_is_mailed_to_whoever_scheduled_it(publisher: User, smtp: SmtpSink) -> None:
    digest = make_digest(stories=1, scheduled_by=publisher, state=Digest.State.SENT)
    digest_event(digest.pk, "sent")

    assert notices.digest_notify_publisher(digest_id=digest.pk, action="sent")

    (received,) = smtp.received
    mail = received.message
    assert received.rcpt_tos == ["pub@newsroom.example"]
    assert received.mail_from == "newsletter@localhost"  # the addr-spec of DEFAULT_FROM_EMAIL
    assert mail["To"] == "pub@newsroom.example"
    assert mail["Subject"] == f"Sent: {digest.subject}"
    body = mail.get_content()
    assert "has been sent: 0 sent, 0 failed, 0 skipped, of 0." in body
    assert f"/admin/newsletters/digest/{digest.pk}/change/" in body


def test_a_notice_the_server_refuses_is_an_error_not_silence(publisher: User) -> None:
    digest = make_digest(stories=1, scheduled_by=publisher, state=Digest.State.SENT)
    with transport_to(free_port()), pytest.raises(transport.TransportFailure) as failed:
        notices.digest_notify_publisher(digest_id=digest.pk, action="sent")
    assert "Could not reach the mail server" in failed.value.outcome.error


def test_an_automatic_pause_says_why_and_a_pause_someone_pressed_says_nothing(
    publisher: User,
) -> None:
    digest = make_digest(stories=1, scheduled_by=publisher, state=Digest.State.PAUSED)
    before = timezone.now() - timedelta(seconds=1)
    digest_event(digest.pk, "paused", by=publisher)
    digest_event(digest.pk, "paused", detail="Paused automatically: 535 authentication failed")

    found = notices.notices_since(user=publisher, since=before)

    (notice,) = found
    assert notice.is_problem
    assert "535 authentication failed" in notice.text


def test_no_one_to_tell_is_no_mail(mailoutbox) -> None:
    digest = make_digest(stories=1, state=Digest.State.SENT)

    assert not notices.digest_notify_publisher(digest_id=digest.pk, action="sent")
    assert mailoutbox == []


def test_the_next_admin_page_shows_the_notice_once(publisher: User, client: Client) -> None:
    digest = make_digest(stories=1, scheduled_by=publisher)
    client.force_login(publisher)
    html = {"Accept": "text/html"}
    client.get("/admin/", headers=html)  # the first page starts the clock
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT)
    digest_event(digest.pk, "sent")

    first = client.get("/admin/", headers=html).content.decode()
    second = client.get("/admin/", headers=html).content.decode()

    assert "has been sent" in first
    assert "has been sent" not in second
