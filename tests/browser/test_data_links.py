"""Download my data and Erase me, pressed in Chromium: the preference page mails a link, the link
opens the data. A real worker sends the mail to the suite's SMTP sink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist import links
from mailinglist.models import ConsentEvent, Subscriber
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_links import mail_link, url_path

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _reader() -> Subscriber:
    morning = MailingListFactory.create(slug="morning", name="The Morning Briefing")
    subscriber = SubscriberFactory.create(email="ada@example.com", name="Ada")
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=morning)
    return subscriber


def _ask_from_the_preference_page(
    page: Any, base_url: str, reader: Subscriber, button: str
) -> None:
    # The preference link of transactional mail; a digest message's own (one MAC per message)
    # opens the same page (test_digest_links.py).
    page.goto(base_url + url_path(links.preferences_url(subscriber=reader)))
    page.get_by_role("button", name=button).click()
    message = page.locator(".messages").inner_text()
    assert "We've sent a link to a••@example.com" in message, message


def test_download_my_data_through_the_link_mailed_to_the_reader(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    reader = _reader()
    page.set_viewport_size(PHONE)

    _ask_from_the_preference_page(page, live_server.url, reader, "Download my data")

    (mail,) = smtp_sink.wait_for(1, timeout=60)
    assert mail.rcpt_tos == ["ada@example.com"]
    assert mail.message["Subject"] == "Your link to download your data from The Daily Ledger"
    page.goto(live_server.url + mail_link(mail, "/my-data/export/"))
    assert page.locator("h1").inner_text() == "Download your data"
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download my data").click()
    download = download_info.value

    assert download.suggested_filename == "my-newsletter-data.json"
    saved = tmp_path / "data.json"
    download.save_as(saved)
    data = json.loads(saved.read_text())
    assert data["email"] == "ada@example.com"
    assert data["name"] == "Ada"
    assert [s["list"] for s in data["subscriptions"]] == ["morning"]


def test_erase_me_through_the_link_mailed_to_the_reader(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    reader = _reader()

    _ask_from_the_preference_page(page, live_server.url, reader, "Erase me")
    assert Subscriber.objects.filter(pk=reader.pk).exists()

    (mail,) = smtp_sink.wait_for(1, timeout=60)
    assert mail.message["Subject"] == "Your link to delete your data from The Daily Ledger"
    page.goto(live_server.url + mail_link(mail, "/my-data/erase/"))
    page.get_by_role("button", name="Delete my data").click()
    assert "Tick the box" in page.locator(".error-summary").inner_text()
    assert Subscriber.objects.filter(pk=reader.pk).exists()
    page.get_by_label("Yes, delete everything you hold about me").check()
    page.get_by_role("button", name="Delete my data").click()

    assert page.locator("h1").inner_text() == "Your data is deleted"
    assert not Subscriber.objects.filter(email="ada@example.com").exists()
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.ERASE).count() == 1


def test_an_expired_link_sends_a_new_one_at_the_press_of_its_button(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink, settings: Any
) -> None:
    reader = _reader()
    link = url_path(links.data_link_url(subscriber=reader, purpose="export"))
    settings.DATA_LINK_MAX_AGE_SECONDS = -1  # every link is already too old

    page.goto(live_server.url + link)
    assert page.locator("h1").inner_text() == "This link has expired"
    page.get_by_role("button", name="Send me a new link").click()

    assert page.locator("h1").inner_text() == "Check your inbox"
    (mail,) = smtp_sink.wait_for(1, timeout=60)
    assert mail.rcpt_tos == ["ada@example.com"]
    assert mail.message["Subject"] == "Your link to download your data from The Daily Ledger"
