"""The reader's pages through Django's test client (no worker: enqueued work is not run here)."""

from __future__ import annotations

import pytest
from django.test import Client

from mailinglist import links, preferences, tokens
from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription
from mailinglist.subscriptions import RequestMeta
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_links import url_path

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def daily() -> MailingList:
    return MailingListFactory.create(
        slug="daily", name="The Morning Briefing", is_default_checked=True
    )


def test_a_confirmation_link_shows_a_button_and_only_a_post_confirms(
    client: Client, daily: MailingList
) -> None:
    pending = SubscriptionFactory.create(mailing_list=daily, state=State.PENDING)
    path = url_path(links.confirm_url(subscriber=pending.subscriber, list_ids=[daily.pk]))

    shown = client.get(path)
    pending.refresh_from_db()
    assert shown.status_code == 200
    assert b"Yes, subscribe me" in shown.content
    assert pending.state == State.PENDING  # link scanners GET every link

    done = Client(enforce_csrf_checks=True).post(path)
    pending.refresh_from_db()
    assert done.status_code == 200
    assert b"subscribed" in done.content
    assert pending.state == State.ACTIVE


def test_an_expired_confirmation_offers_a_fresh_link(
    client: Client,
    daily: MailingList,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
) -> None:
    import time

    pending = SubscriptionFactory.create(mailing_list=daily, state=State.PENDING)
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: eight_days_ago)
        path = url_path(links.confirm_url(subscriber=pending.subscriber, list_ids=[daily.pk]))

    shown = client.get(path)
    posted = client.post(path)
    with django_capture_on_commit_callbacks() as enqueued:
        resent = client.post(path + "resend/")

    pending.refresh_from_db()
    assert shown.status_code == posted.status_code == 410
    assert b"Send me a new link" in shown.content
    assert pending.state == State.PENDING
    assert resent.status_code == 200
    assert len(enqueued) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/confirm/{t}/",
        "/unsubscribe/{t}/",
        "/preferences/{t}/",
        "/preferences/{t}/erase/",
        "/my-data/export/{t}/",
        "/my-data/erase/{t}/",
    ],
)
def test_tampered_or_cross_purpose_links_get_a_friendly_page(
    client: Client, daily: MailingList, path: str
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    wrong_purpose = tokens.preferences_token_make(public_id=subscriber.public_id)
    if "preferences" in path:
        wrong_purpose = tokens.unsubscribe_token_make(
            public_id=subscriber.public_id, list_id=daily.pk
        )

    for token in (wrong_purpose, wrong_purpose[:-2] + "xx", "garbage", "a" * 3000):
        response = client.get(path.format(t=token))
        assert response.status_code == 400
        assert b"This link doesn" in response.content


def test_one_click_unsubscribe_exactly_as_a_mailbox_provider_sends_it(daily: MailingList) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily)
    headers = links.list_headers(subscriber=subscription.subscriber, mailing_list=daily)
    url = headers["List-Unsubscribe"].strip("<>")
    provider = Client(enforce_csrf_checks=True)  # no cookie, no CSRF token, no login

    response = provider.post(
        url_path(url),
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    subscription.refresh_from_db()
    assert response.status_code == 200
    assert subscription.state == State.UNSUBSCRIBED
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith("http")
    assert headers["List-Id"] == '"The Morning Briefing" <daily.127.0.0.1>'
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert event.detail == {"method": "one-click"}


def test_one_click_also_accepts_multipart_bodies(daily: MailingList) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily)
    url = links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=daily)

    response = Client(enforce_csrf_checks=True).post(
        url_path(url), {"List-Unsubscribe": "One-Click"}
    )

    subscription.refresh_from_db()
    assert response.status_code == 200
    assert subscription.state == State.UNSUBSCRIBED


def test_the_unsubscribe_page_has_one_button_and_an_undo(
    client: Client, daily: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily)
    path = url_path(links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=daily))

    shown = client.get(path)
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE
    assert b">Unsubscribe</button>" in shown.content

    done = client.post(path)
    subscription.refresh_from_db()
    assert subscription.state == State.UNSUBSCRIBED
    assert b"Undo: keep me subscribed" in done.content

    undone = client.post(path + "undo/")
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE
    assert b"back on" in undone.content


def test_unsubscribing_an_erased_reader_is_a_calm_no_op(client: Client, daily: MailingList) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = url_path(links.unsubscribe_url(subscriber=subscriber, mailing_list=daily))
    preferences.subscriber_erase(subscriber=subscriber, meta=RequestMeta(), by="reader")

    one_click = Client().post(path, {"List-Unsubscribe": "One-Click"})
    page = client.get(path)

    assert one_click.status_code == 200
    assert page.status_code == 200


def test_preference_centre_saves_lists_and_name(client: Client, daily: MailingList) -> None:
    weekly = MailingListFactory.create(slug="weekly", name="Weekend Reads")
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber=SubscriberFactory.create(name="<b>Ada</b>")
    ).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    shown = client.get(path)
    assert b"&lt;b&gt;Ada&lt;/b&gt;" in shown.content  # escaped, never raw
    saved = client.post(path, {"name": "Ada L.", "lists": ["weekly"]}, follow=True)

    assert b"Your preferences are saved." in saved.content
    states = dict(
        Subscription.objects.filter(subscriber=subscriber).values_list(
            "mailing_list__slug", "state"
        )
    )
    assert states == {"daily": State.UNSUBSCRIBED, "weekly": State.ACTIVE}
    assert Subscriber.objects.get().name == "Ada L."
    assert weekly.pk


def test_preference_centre_pause_leave_export_and_erase(client: Client, daily: MailingList) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    paused = client.post(path + "pause/", {"weeks": "4"}, follow=True)
    bad_pause = client.post(path + "pause/", {"weeks": "9999"})
    asked_export = client.post(path + "export/", follow=True)
    left = client.post(path + "unsubscribe-all/", follow=True)
    asked_erase = client.post(path + "erase/", follow=True)
    # What the mailed links open (mailinglist/data_links.py; test_data_links.py has the rest).
    export_link = url_path(links.data_link_url(subscriber=subscriber, purpose="export"))
    erase_link = url_path(links.data_link_url(subscriber=subscriber, purpose="erase"))
    exported = client.post(export_link)
    refused = client.post(erase_link, {})
    erased = client.post(erase_link, {"confirm": "on"})

    assert b"Paused for 4 weeks." in paused.content
    assert bad_pause.status_code == 400
    # The preference link (in every forwarded digest) hands out no data: it mails a link.
    for asked in (asked_export, asked_erase):
        assert asked.status_code == 200
        assert "Content-Disposition" not in asked
        assert b"sent a link to" in asked.content
    assert exported["Content-Disposition"].startswith("attachment")
    assert exported.json()["email"] == subscriber.email
    assert b"unsubscribed from everything" in left.content
    assert refused.status_code == 400
    assert b"Tick the box" in refused.content
    assert erased.status_code == 200
    assert not Subscriber.objects.exists()
    assert client.get(path).status_code == 400  # the link died with the data
    assert client.get(erase_link).status_code == 400
