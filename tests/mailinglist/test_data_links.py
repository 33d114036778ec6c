"""Download my data and Erase me: the preference link only mails a fresh link to the address.

A digest is forwarded, and its preference link with it; whoever holds that link must not take or
delete the reader's data. Through Django's test client, with no worker: enqueued mail is counted,
not run, except where the mail itself is sent in-process to an SMTP sink.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from django.test import Client

from devtools.smtp_sink import SmtpSink
from mailinglist import links, mailings, protection, tokens
from mailinglist.models import ConsentEvent, Subscriber, Suppression
from mailinglist.suppressions import suppression_add
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_links import url_path
from tests.mail_transport import sink_serving

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(db: None) -> Subscriber:
    daily = MailingListFactory.create(slug="daily", name="The Morning Briefing")
    subscriber = SubscriberFactory.create(email="ada@example.com", name="Ada")
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=daily)
    return subscriber


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    yield from sink_serving()


def _preferences(subscriber: Subscriber) -> str:
    return url_path(links.preferences_url(subscriber=subscriber))


@pytest.mark.parametrize(("button", "what"), [("export/", "download"), ("erase/", "delete")])
def test_the_preference_page_mails_a_link_and_hands_over_nothing(
    client: Client, reader: Subscriber, button: str, what: str, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(_preferences(reader) + button, follow=True)

    assert len(enqueued) == 1
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f"We&#x27;ve sent a link to a••@example.com. Open it within an hour to {what}" in html
    assert Subscriber.objects.filter(pk=reader.pk).exists()


def test_the_old_erase_page_now_leads_to_the_buttons(client: Client, reader: Subscriber) -> None:
    response = client.get(_preferences(reader) + "erase/")

    assert response.status_code == 302
    assert response["Location"] == _preferences(reader) + "#your-data"
    assert Subscriber.objects.filter(pk=reader.pk).exists()


def test_three_links_an_hour_then_the_reader_is_told_to_wait(
    client: Client, reader: Subscriber, django_capture_on_commit_callbacks
) -> None:
    path = _preferences(reader)
    with django_capture_on_commit_callbacks() as enqueued:
        for button in ("export/", "erase/", "export/"):
            client.post(path + button)
        refused = client.post(path + "erase/", follow=True)

    assert len(enqueued) == protection.DATA_LINK_LIMIT == 3
    html = refused.content.decode()
    assert '<li class="warning">' in html
    assert "We&#x27;ve already sent 3 links to a••@example.com in the last hour" in html


def test_no_link_goes_to_a_suppressed_address_and_the_page_says_why(
    client: Client, reader: Subscriber, django_capture_on_commit_callbacks
) -> None:
    suppression_add(email=reader.email, reason=Suppression.Reason.BOUNCED)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(_preferences(reader) + "export/", follow=True)

    assert enqueued == []
    assert b"We can&#x27;t send mail to a\xe2\x80\xa2\xe2\x80\xa2@example.com" in response.content


def test_the_mail_carries_a_link_that_opens_only_its_own_right(
    client: Client, reader: Subscriber, sink: SmtpSink
) -> None:
    mailings.data_link_mail_send(subscriber_id=reader.pk, purpose="export")

    (received,) = sink.received
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.message["Subject"] == "Your link to download your data from The Daily Ledger"
    text = received.message.get_body(preferencelist=("plain",))
    html = received.message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    match = re.search(r"https?://[^/\s]+(/my-data/export/[^\s]+)", text.get_content())
    assert match, text.get_content()
    link = match.group(1)
    assert link in html.get_content()
    assert "works for an hour" in text.get_content()

    shown = client.get(link)  # what a link scanner does
    assert shown.status_code == 200
    assert "Content-Disposition" not in shown
    assert b"Download my data</button>" in shown.content
    downloaded = client.post(link)
    assert downloaded["Content-Disposition"] == 'attachment; filename="my-newsletter-data.json"'
    assert downloaded.json()["email"] == "ada@example.com"
    assert downloaded.json()["subscriptions"][0]["list"] == "daily"
    # The same token is no erasure link: one salt per right.
    token = link.split("/")[3]
    assert client.post(f"/my-data/erase/{token}/", {"confirm": "on"}).status_code == 400
    assert Subscriber.objects.filter(pk=reader.pk).exists()


def test_no_mail_for_a_purpose_the_code_does_not_know(reader: Subscriber, sink: SmtpSink) -> None:
    assert mailings.data_link_mail_send(subscriber_id=reader.pk, purpose="everything") is None
    assert mailings.data_link_mail_send(subscriber_id=0, purpose="export") is None
    assert sink.received == []


def test_an_erasure_link_asks_once_more_and_only_its_post_erases(
    client: Client, reader: Subscriber
) -> None:
    link = url_path(links.data_link_url(subscriber=reader, purpose="erase"))

    shown = client.get(link)
    assert shown.status_code == 200
    assert b"Delete my data</button>" in shown.content
    unticked = client.post(link, {})
    assert unticked.status_code == 400
    assert Subscriber.objects.filter(pk=reader.pk).exists()

    erased = client.post(link, {"confirm": "on"})

    assert erased.status_code == 200
    assert b"Your data is deleted" in erased.content
    assert not Subscriber.objects.filter(pk=reader.pk).exists()
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.ERASE)
    assert event.detail == {"by": "reader"}
    assert client.get(link).status_code == 400  # nobody's link any more


@pytest.mark.parametrize("purpose", ["export", "erase"])
def test_an_expired_link_offers_a_new_one_and_opens_nothing(
    client: Client,
    reader: Subscriber,
    purpose: tokens.DataPurpose,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
) -> None:
    two_hours_ago = time.time() - 2 * 3600
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: two_hours_ago)
        link = url_path(links.data_link_url(subscriber=reader, purpose=purpose))

    shown = client.get(link)
    posted = client.post(link, {"confirm": "on"})
    with django_capture_on_commit_callbacks() as enqueued:
        resent = client.post(link + "resend/")

    assert shown.status_code == posted.status_code == 410
    assert b"This link has expired" in shown.content
    assert b"Send me a new link</button>" in shown.content
    assert "Content-Disposition" not in posted
    assert Subscriber.objects.filter(pk=reader.pk).exists()
    assert resent.status_code == 200
    assert b"Check your inbox" in resent.content
    assert "a••@example.com" in resent.content.decode()
    assert len(enqueued) == 1


def test_a_link_mailed_to_an_address_the_reader_left_opens_nothing(
    client: Client, reader: Subscriber
) -> None:
    link = url_path(links.data_link_url(subscriber=reader, purpose="export"))
    Subscriber.objects.filter(pk=reader.pk).update(email="ada@new.example")

    shown = client.get(link)
    posted = client.post(link)

    assert shown.status_code == posted.status_code == 410
    assert b"This link is for your old address" in shown.content
    assert "Content-Disposition" not in posted


def test_asking_again_from_an_expired_page_is_limited_too(
    client: Client, reader: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_hours_ago = time.time() - 2 * 3600
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: two_hours_ago)
        link = url_path(links.data_link_url(subscriber=reader, purpose="erase"))

    answers = [client.post(link + "resend/") for _ in range(protection.DATA_LINK_LIMIT + 1)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert b"already sent 3 links" in answers[-1].content


@pytest.mark.parametrize(
    "token", ["garbage", "a" * 3000, "", "%00", "eyJwIjoiIn0:1s:bad"], ids=repr
)
def test_a_broken_link_gets_a_friendly_page_never_a_500(client: Client, token: str) -> None:
    for path in (f"/my-data/export/{token}/", f"/my-data/erase/{token}/"):
        if not token:
            assert client.get(path).status_code == 404
            continue
        assert client.get(path).status_code == 400
        assert client.post(path, {"confirm": "on"}).status_code == 400
        assert client.post(path + "resend/").status_code == 400


def test_a_preference_token_opens_no_data(client: Client, reader: Subscriber) -> None:
    token = tokens.preferences_token_make(public_id=reader.public_id)

    assert client.post(f"/my-data/export/{token}/").status_code == 400
    assert client.post(f"/my-data/erase/{token}/", {"confirm": "on"}).status_code == 400
    assert Subscriber.objects.filter(pk=reader.pk).exists()
