"""The reader's journey end to end: form -> Redis -> worker -> SMTP sink -> links -> pages."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist import protection
from mailinglist.models import MailingList, SignupRequest, Subscriber, Subscription
from tests.factories import MailingListFactory
from tests.mail_links import mail_link
from tests.polling import wait_until

pytestmark = pytest.mark.integration
State = Subscription.State


@pytest.fixture
def daily(celery_worker: Worker) -> MailingList:
    return MailingListFactory.create(
        slug="daily", name="The Morning Briefing", is_welcome_enabled=True
    )


def _signup(client: Client, email: str, *, ip: str = "198.51.100.20") -> None:
    response = client.post(
        "/subscribe/",
        {
            "email": email,
            "lists": ["daily"],
            "form_token": protection.form_token_make(now=time.time() - 10),
        },
        REMOTE_ADDR=ip,
    )
    assert response.status_code == 302


def test_signup_confirm_welcome_and_one_click_unsubscribe(
    daily: MailingList, smtp_sink: SmtpSink, client: Client
) -> None:
    _signup(client, "ada@example.com")

    (confirmation,) = smtp_sink.wait_for(1)
    message = confirmation.message
    assert confirmation.rcpt_tos == ["ada@example.com"]
    assert message["Subject"] == "Confirm your subscription to The Morning Briefing"
    assert message.get_body(preferencelist=("html",)) is not None
    confirm_path = mail_link(confirmation, "/confirm/")

    client.get(confirm_path)  # what a link scanner does
    subscription = Subscription.objects.get(subscriber__email="ada@example.com")
    assert subscription.state == State.PENDING

    assert client.post(confirm_path).status_code == 200
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE

    welcome = smtp_sink.wait_for(2)[1].message
    assert welcome["Subject"] == "Welcome to The Morning Briefing"
    assert welcome["List-Unsubscribe-Post"] is None  # one-click headers are for digests
    assert welcome["List-Id"].endswith("<daily.127.0.0.1>")
    unsubscribe_url = welcome["List-Unsubscribe"].strip().strip("<>")  # may arrive folded
    assert unsubscribe_url.startswith("http")
    html = welcome.get_body(preferencelist=("html",))
    assert html is not None
    assert "Unsubscribe" in html.get_content()

    # The endpoint still takes an RFC 8058 POST: a digest's header points at the same link.
    one_click = Client(enforce_csrf_checks=True).post(
        re.sub(r"^https?://[^/]+", "", unsubscribe_url),
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    subscription.refresh_from_db()
    assert one_click.status_code == 200
    assert subscription.state == State.UNSUBSCRIBED


def test_a_thousand_signups_for_one_address_send_at_most_one_mail(
    daily: MailingList, smtp_sink: SmtpSink, client: Client
) -> None:
    for n in range(1000):
        _signup(client, "victim@example.com", ip=f"203.0.{n // 50}.{n % 50 + 1}")

    wait_until(
        lambda: SignupRequest.objects.filter(processed_at__isnull=False).count() == 1000,
        timeout=180,
    )
    smtp_sink.wait_for(1)
    time.sleep(2)  # let any mail that should not exist arrive before counting

    assert len(smtp_sink.received) == 1
    assert Subscriber.objects.filter(email="victim@example.com").count() == 1


def test_erasure_then_signing_up_again_needs_a_new_double_opt_in(
    daily: MailingList, smtp_sink: SmtpSink, client: Client
) -> None:
    _signup(client, "grace@example.com")
    client.post(mail_link(smtp_sink.wait_for(1)[0], "/confirm/"))
    welcome = smtp_sink.wait_for(2)[1]
    preferences = mail_link(welcome, "/preferences/").partition("?")[0]  # without ?lang=

    # The preference link only has a link to the erasure mailed to the address.
    assert client.post(preferences + "erase/").status_code == 302
    erase_mail = smtp_sink.wait_for(3)[2]
    assert erase_mail.rcpt_tos == ["grace@example.com"]
    assert (
        client.post(mail_link(erase_mail, "/my-data/erase/"), {"confirm": "on"}).status_code == 200
    )
    assert not Subscriber.objects.filter(email="grace@example.com").exists()

    _signup(client, "grace@example.com")
    again = smtp_sink.wait_for(4)[3]
    assert again.message["Subject"].startswith("Confirm your subscription")
    subscription = wait_until(
        lambda: Subscription.objects.filter(subscriber__email="grace@example.com").first()
    )
    assert subscription.state == State.PENDING

    client.post(mail_link(again, "/confirm/"))
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE
    # Let the welcome mail land here rather than in the next test's sink.
    assert smtp_sink.wait_for(5)[4].message["Subject"].startswith("Welcome")


def test_signups_whose_task_redis_lost_are_picked_up_again(
    daily: MailingList, smtp_sink: SmtpSink
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from mailinglist.tasks import sweep_signup_requests

    # A stored signup whose task never reached a worker (say Redis restarted without AOF).
    lost = SignupRequest.objects.create(
        email="lost@example.com", list_slugs=["daily"], source="form"
    )
    SignupRequest.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    sweep_signup_requests()  # what the beat tick runs every 30 s

    wait_until(lambda: [r for r in smtp_sink.received if r.rcpt_tos == ["lost@example.com"]])
    lost.refresh_from_db()
    assert lost.processed_at is not None


def test_a_reader_who_signs_up_on_an_arabic_list_is_written_to_in_arabic(
    celery_worker: Worker, smtp_sink: SmtpSink, client: Client
) -> None:
    MailingListFactory.create(slug="sabah", name="نشرة الصباح", language="ar")
    # Their browser asks for English: the list's language decides its mail and its pages.
    response = client.post(
        "/subscribe/",
        {
            "email": "layla@example.com",
            "lists": ["sabah"],
            "form_token": protection.form_token_make(now=time.time() - 10),
        },
        REMOTE_ADDR="198.51.100.21",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302

    (confirmation,) = smtp_sink.wait_for(1)
    message = confirmation.message
    with translation.override("ar"):
        subject = gettext("Confirm your subscription to %(names)s") % {"names": "نشرة الصباح"}
        please = gettext("Please confirm that you want to receive:")
    assert not subject.startswith("Confirm")  # a translation, not the English source
    # Python folds a long encoded subject after "Subject:"; unfolded, that leaves a space.
    assert message["Subject"].strip() == subject
    assert message["Content-Language"] == "ar"
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    # The mail's <html> also carries its colour schemes (dark mode) after lang and dir.
    assert '<html lang="ar" dir="rtl" ' in html.get_content()
    assert please in html.get_content() and please in text.get_content()

    # Its link opens the confirmation page in Arabic, whatever the browser asks for.
    confirm_path = mail_link(confirmation, "/confirm/")
    assert confirm_path.endswith("?lang=ar")
    page = client.get(confirm_path, HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="ar" dir="rtl">' in page.content.decode()
    assert client.post(confirm_path.partition("?")[0]).status_code == 200
    welcome = smtp_sink.wait_for(2)[1].message
    assert welcome["Content-Language"] == "ar"
