"""The pages a list's mail links to wear that list's brand atop them (its masthead name, logo and
accent), as its mail does; pages about several brands or about the reader as a whole wear the
site's. Through Django's test client; tests/browser/test_reader_pages.py presses them in Chromium.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client
from pytest_django.asserts import assertInHTML

from mailinglist import links
from mailinglist.models import MailingList, Subscriber, Subscription
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, logo_png
from tests.mail_links import url_path

pytestmark = pytest.mark.django_db
State = Subscription.State
SITE = "The Daily Ledger"  # settings.SITE_NAME


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def morning() -> MailingList:
    """A list with a brand of its own: name, a logo twice its display width, an accent."""
    mailing_list = MailingListFactory.create(
        slug="morning",
        name="Morning news",
        masthead_name="The Morning Briefing",
        logo_alt="A sun rising over the sea",
        accent_colour="#1a5fb4",
    )
    mailing_list.logo.save("logo.png", logo_png(400, 100))
    return MailingList.objects.get(pk=mailing_list.pk)


def _masthead(response: Any) -> str:
    match = re.search(r'<header class="masthead">(.*?)</header>', response.content.decode(), re.S)
    assert match, response.content.decode()
    return match.group(1)


def _title(response: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
    assert match
    return match.group(1)


def _accent_rule(response: Any) -> str | None:
    match = re.search(r"<style>:root \{ --accent: (.*?); \}</style>", response.content.decode())
    return match.group(1) if match else None


def _assert_morning_brand(response: Any, morning: MailingList) -> None:
    masthead = _masthead(response)
    assert "The Morning Briefing" in masthead
    assert SITE not in masthead
    # At its display size (400x100 shown 200 wide), served from the host the reader is on.
    assertInHTML(
        f'<img class="logo" src="/media/{morning.logo.name}" width="200" height="50"'
        ' alt="A sun rising over the sea">',
        masthead,
    )
    assert _accent_rule(response) == "#1a5fb4"
    assert _title(response).endswith("— The Morning Briefing")


def _assert_site_masthead(response: Any) -> None:
    masthead = _masthead(response)
    assert SITE in masthead
    assert "<img" not in masthead
    assert _accent_rule(response) is None  # base.html's own accent stands
    assert _title(response).endswith(f"— {SITE}")


def _unsubscribe_path(subscriber: Subscriber, mailing_list: MailingList) -> str:
    return url_path(links.unsubscribe_url(subscriber=subscriber, mailing_list=mailing_list))


def test_the_unsubscribe_page_its_result_and_its_undo_wear_the_lists_brand(
    client: Client, morning: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=morning)
    path = _unsubscribe_path(subscription.subscriber, morning)

    shown = client.get(path)
    _assert_morning_brand(shown, morning)
    assert b"Unsubscribe from Morning news?" in shown.content

    left = client.post(path)
    subscription.refresh_from_db()
    assert subscription.state == State.UNSUBSCRIBED
    _assert_morning_brand(left, morning)

    back = client.post(path + "undo/")
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE
    assert "back on Morning news" in back.content.decode()
    _assert_morning_brand(back, morning)


def test_the_logo_alt_is_left_empty_when_it_would_only_repeat_the_name_beside_it(
    client: Client, morning: MailingList
) -> None:
    MailingList.objects.filter(pk=morning.pk).update(logo_alt="")  # the brand's alt is its name
    subscription = SubscriptionFactory.create(mailing_list=morning)

    masthead = _masthead(client.get(_unsubscribe_path(subscription.subscriber, morning)))

    assertInHTML(
        f'<img class="logo" src="/media/{morning.logo.name}" width="200" height="50" alt="">',
        masthead,
    )
    assert masthead.count("The Morning Briefing") == 1


def test_a_list_without_a_brand_of_its_own_shows_the_sites_name(client: Client) -> None:
    plain = MailingListFactory.create(slug="plain", name="Plain news")
    subscription = SubscriptionFactory.create(mailing_list=plain)

    shown = client.get(_unsubscribe_path(subscription.subscriber, plain))

    masthead = _masthead(shown)
    assert SITE in masthead
    assert "<img" not in masthead
    assert _accent_rule(shown) == "#b3261e"  # the site's accent, as its mail has
    assert _title(shown).endswith(f"— {SITE}")


def test_the_preference_centre_keeps_the_sites_masthead(
    client: Client, morning: MailingList
) -> None:
    # Even for a reader whose only list is branded: the page is about all their newsletters.
    subscriber = SubscriptionFactory.create(mailing_list=morning).subscriber

    shown = client.get(url_path(links.preferences_url(subscriber=subscriber)))

    assert shown.status_code == 200
    _assert_site_masthead(shown)


def test_a_confirmation_for_one_branded_list_wears_its_brand_before_and_after_the_button(
    client: Client, morning: MailingList
) -> None:
    pending = SubscriptionFactory.create(mailing_list=morning, state=State.PENDING)
    path = url_path(links.confirm_url(subscriber=pending.subscriber, list_ids=[morning.pk]))

    _assert_morning_brand(client.get(path), morning)
    _assert_morning_brand(client.post(path), morning)
    pending.refresh_from_db()
    assert pending.state == State.ACTIVE
    _assert_morning_brand(client.get(path), morning)  # the used link: "already subscribed"


def test_a_confirmation_for_two_differently_branded_lists_keeps_the_sites_masthead(
    client: Client, morning: MailingList
) -> None:
    weekend = MailingListFactory.create(
        slug="weekend", name="Weekend Reads", masthead_name="Weekend", accent_colour="#2e7d32"
    )
    subscriber = SubscriberFactory.create()
    for mailing_list in (morning, weekend):
        SubscriptionFactory.create(
            subscriber=subscriber, mailing_list=mailing_list, state=State.PENDING
        )
    path = url_path(links.confirm_url(subscriber=subscriber, list_ids=[morning.pk, weekend.pk]))

    shown = client.get(path)
    done = client.post(path)

    for response in (shown, done):
        _assert_site_masthead(response)
        assert b"Morning news" in response.content and b"Weekend Reads" in response.content


def test_a_confirmation_for_two_lists_of_one_brand_wears_it(client: Client) -> None:
    lists = [
        MailingListFactory.create(
            slug=slug, name=name, masthead_name="The Ledger Weekly", accent_colour="#1a5fb4"
        )
        for slug, name in (("arts", "Arts"), ("books", "Books"))
    ]
    subscriber = SubscriberFactory.create()
    for mailing_list in lists:
        SubscriptionFactory.create(
            subscriber=subscriber, mailing_list=mailing_list, state=State.PENDING
        )
    path = url_path(links.confirm_url(subscriber=subscriber, list_ids=[m.pk for m in lists]))

    shown = client.get(path)

    assert "The Ledger Weekly" in _masthead(shown)
    assert _accent_rule(shown) == "#1a5fb4"


def test_an_expired_confirmation_still_answers_410_under_the_lists_brand(
    client: Client, morning: MailingList, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = SubscriptionFactory.create(mailing_list=morning, state=State.PENDING)
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: eight_days_ago)
        path = url_path(links.confirm_url(subscriber=pending.subscriber, list_ids=[morning.pk]))

    shown = client.get(path)
    resent = client.post(path + "resend/")

    assert shown.status_code == 410
    assert b"Send me a new link" in shown.content
    _assert_morning_brand(shown, morning)
    assert resent.status_code == 200
    _assert_morning_brand(resent, morning)


@pytest.mark.parametrize("path", ["/unsubscribe/not-a-token/", "/confirm/not-a-token/"])
def test_a_bad_link_is_refused_as_before_under_the_sites_masthead(
    client: Client, morning: MailingList, path: str
) -> None:
    refused = client.get(path)
    assert refused.status_code == 400
    assert b"This link doesn" in refused.content
    _assert_site_masthead(refused)


def test_the_one_click_post_still_answers_mail_servers_in_plain_text(
    client: Client, morning: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=morning)

    answer = client.post(
        _unsubscribe_path(subscription.subscriber, morning),
        {"List-Unsubscribe": "One-Click"},
    )

    subscription.refresh_from_db()
    assert (answer.status_code, answer.content) == (200, b"Unsubscribed.")
    assert answer["Content-Type"].startswith("text/plain")
    assert subscription.state == State.UNSUBSCRIBED


def test_an_accent_that_is_not_a_colour_never_reaches_the_style_rule(
    client: Client, morning: MailingList
) -> None:
    # The model refuses it; a raw update does not ask the model. Seven characters: the column's
    # width, which PostgreSQL enforces.
    MailingList.objects.filter(pk=morning.pk).update(accent_colour="red;}a{")
    subscription = SubscriptionFactory.create(mailing_list=morning)

    shown = client.get(_unsubscribe_path(subscription.subscriber, morning))

    assert _accent_rule(shown) == "#b3261e"
    assert b"}a{" not in shown.content


def test_base_html_renders_without_a_brand_or_a_request() -> None:
    # The CSRF failure page renders through base.html with no request and no view's context.
    page = render_to_string("403_csrf.html")
    assert f'<a class="brand" href="/">{SITE}</a>' in page
    assert "--accent: #b3261e" in page
