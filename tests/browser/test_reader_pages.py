"""The pages a reader reaches from our mail, pressed in Chromium: used links, pause, new address,
and the list's own masthead atop the pages its links open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist import links
from mailinglist.models import MailingList, Subscriber, Subscription
from tests.browser.contrast import LOW_CONTRAST_JS
from tests.browser.staff import script_errors
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, logo_png
from tests.mail_links import mail_link, url_path
from tests.polling import wait_until

pytestmark = pytest.mark.browser
State = Subscription.State
PHONE = {"width": 390, "height": 844}


def _lists() -> tuple[MailingList, MailingList]:
    return (
        MailingListFactory.create(slug="morning", name="The Morning Briefing"),
        MailingListFactory.create(slug="weekend", name="Weekend Reads"),
    )


def test_confirm_twice_the_second_visit_says_already_subscribed_and_one_welcome_arrives(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    morning, weekend = _lists()
    subscriber = SubscriberFactory.create(email="ada@example.com")
    for mailing_list in (morning, weekend):
        SubscriptionFactory.create(
            subscriber=subscriber, mailing_list=mailing_list, state=State.PENDING
        )
    path = url_path(links.confirm_url(subscriber=subscriber, list_ids=[morning.pk, weekend.pk]))

    page.goto(live_server.url + path)
    page.get_by_role("button", name="Yes, subscribe me").click()
    assert page.locator("h1").inner_text() == "You're subscribed"

    page.goto(live_server.url + path)
    assert page.locator("h1").inner_text() == "You're already subscribed"
    assert page.get_by_role("button").count() == 0
    page.get_by_role("link", name="Manage your preferences").click()
    assert page.locator("h1").inner_text() == "Your newsletters"

    (welcome,) = smtp_sink.wait_for(1, timeout=60)
    message = welcome.message
    assert welcome.rcpt_tos == ["ada@example.com"]
    assert message["Subject"] == "Welcome to The Morning Briefing and Weekend Reads"
    assert message["List-Id"].startswith('"The Morning Briefing"')
    states = set(subscriber.subscriptions.values_list("state", flat=True))
    assert states == {State.ACTIVE}


def test_unsubscribe_twice_the_second_visit_says_so_and_offers_the_way_back(
    page: Any, live_server: Any
) -> None:
    morning, _ = _lists()
    subscription = SubscriptionFactory.create(mailing_list=morning)
    path = url_path(links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=morning))

    page.goto(live_server.url + path)
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.locator("h1").inner_text() == "You're unsubscribed"

    page.goto(live_server.url + path)
    assert page.locator("h1").inner_text() == "You're already unsubscribed"
    assert page.get_by_role("button", name="Unsubscribe").count() == 0
    page.get_by_role("button", name="Subscribe me again").click()
    assert page.locator("h1").inner_text() == "You're back on The Morning Briefing"
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE


def test_change_address_from_the_preference_centre_through_the_link_at_the_new_address(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    morning, _ = _lists()
    subscriber = SubscriptionFactory.create(
        mailing_list=morning, subscriber=SubscriberFactory.create(email="ada@old.example")
    ).subscriber

    page.goto(live_server.url + url_path(links.preferences_url(subscriber=subscriber)))
    page.get_by_label("New email address").fill("ada@new.example")
    page.get_by_role("button", name="Send me the link").click()
    assert "We've sent a link to ada@new.example" in page.locator(".messages").inner_text()

    (mail,) = smtp_sink.wait_for(1, timeout=60)
    assert mail.rcpt_tos == ["ada@new.example"]
    assert Subscriber.objects.get(pk=subscriber.pk).email == "ada@old.example"
    page.goto(live_server.url + mail_link(mail, "/address/"))
    page.get_by_role("button", name="Yes, use this address").click()

    assert page.locator("h1").inner_text() == "Your address is changed"
    assert Subscriber.objects.get(pk=subscriber.pk).email == "ada@new.example"
    notice = smtp_sink.wait_for(2, timeout=60)[1]
    assert notice.rcpt_tos == ["ada@old.example"]
    notice_text = notice.message.get_body(preferencelist=("plain",))
    assert notice_text is not None
    assert "a••@new.example" in notice_text.get_content()
    page.get_by_role("link", name="Manage your preferences").click()
    assert "ada@new.example" in page.locator("main").inner_text()


def test_the_pause_selector_default_is_what_its_button_does(page: Any, live_server: Any) -> None:
    morning, _ = _lists()
    subscriber = SubscriptionFactory.create(mailing_list=morning).subscriber
    page.goto(live_server.url + url_path(links.preferences_url(subscriber=subscriber)))

    select = page.get_by_label("Pause all newsletters for")
    chosen = select.evaluate("s => s.options[s.selectedIndex].text")
    assert chosen == "2 weeks"
    page.get_by_role("button", name="Pause", exact=True).click()

    assert "Paused for 2 weeks." in page.locator(".messages").inner_text()
    subscriber.refresh_from_db()
    assert subscriber.paused_until is not None
    page.get_by_role("button", name="Resume now").click()
    assert "Your newsletters are back on." in page.locator(".messages").inner_text()
    subscriber.refresh_from_db()
    assert subscriber.paused_until is None


def _reader_paths(live_server: Any) -> list[str]:
    morning, weekend = _lists()
    subscriber = SubscriberFactory.create(email="grace@example.com")
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=morning)
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=weekend, state=State.PENDING)
    preferences = url_path(links.preferences_url(subscriber=subscriber))
    return [
        url_path(links.confirm_url(subscriber=subscriber, list_ids=[weekend.pk])),
        url_path(links.unsubscribe_url(subscriber=subscriber, mailing_list=morning)),
        preferences,
        url_path(links.data_link_url(subscriber=subscriber, purpose="export")),
        url_path(links.data_link_url(subscriber=subscriber, purpose="erase")),
        url_path(
            links.address_change_url(
                subscriber=subscriber, new_email="grace@new.example", old_email_ref="x"
            )
        ),
        "/confirm/not-a-token/",
        "/no-such-page/",
    ]


def test_every_reader_page_has_one_h1_a_skip_link_and_thumb_sized_checkboxes_on_a_phone(
    page: Any, live_server: Any
) -> None:
    page.set_viewport_size(PHONE)
    for path in _reader_paths(live_server):
        page.goto(live_server.url + path)

        assert page.locator("h1").count() == 1, path
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        assert skip.evaluate("a => a === document.activeElement"), path
        assert skip.is_visible(), path  # shown once focused
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "content", path
        # Nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        for checkbox in page.locator("main input[type=checkbox]").all():
            box = checkbox.bounding_box()
            assert box is not None
            assert box["width"] >= 24 and box["height"] >= 24, path
            label_box = checkbox.locator("xpath=ancestor::label").bounding_box()
            assert label_box is not None
            assert label_box["height"] >= 44, path
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert icon is not None
        assert page.request.get(live_server.url + icon).ok, path


def test_preference_checkboxes_are_pressed_by_their_labels_on_a_phone(
    page: Any, live_server: Any
) -> None:
    page.set_viewport_size(PHONE)
    morning, weekend = _lists()
    subscriber = SubscriptionFactory.create(mailing_list=morning).subscriber
    page.goto(live_server.url + url_path(links.preferences_url(subscriber=subscriber)))

    page.get_by_text("Weekend Reads").click()
    page.get_by_role("button", name="Save").click()

    assert "Your preferences are saved." in page.locator(".messages").inner_text()
    wait_until(
        lambda: Subscription.objects.filter(
            subscriber=subscriber, mailing_list=weekend, state=State.ACTIVE
        ).exists()
    )


# --- A list's brand atop its pages --------------------------------------------------------------

BRANDED = {
    "en": {"name": "Morning news", "masthead_name": "The Morning Briefing"},
    "ar": {"name": "نشرة الصباح", "masthead_name": "موجز الصباح"},
}
ACCENT = "#1a5fb4"


@pytest.fixture
def branded(settings: Any, tmp_path: Path) -> Callable[[str], MailingList]:
    """Makes a list with its own masthead name, logo (served by the app) and accent."""
    settings.MEDIA_ROOT = tmp_path / "media"

    def make(language: str) -> MailingList:
        mailing_list = MailingListFactory.create(
            slug=f"morning-{language}", language=language, accent_colour=ACCENT, **BRANDED[language]
        )
        mailing_list.logo.save("logo.png", logo_png(400, 100))  # shown 200 x 50
        return MailingList.objects.get(pk=mailing_list.pk)

    return make


def _assert_brand_atop(page: Any, *, masthead_name: str, width: int, step: str) -> None:
    brand = page.locator(".masthead .brand")
    assert brand.inner_text().strip() == masthead_name, step
    logo = brand.locator("img")
    logo.wait_for()
    page.wait_for_function("document.querySelector('.masthead img').complete")
    assert logo.evaluate("img => img.naturalWidth") > 0, f"the logo did not load on {step}"
    box = logo.bounding_box()
    assert box is not None
    # At its display size, not stretched, in the middle of the screen.
    assert (round(box["width"]), round(box["height"])) == (200, 50), step
    assert abs(box["x"] + box["width"] / 2 - width / 2) <= 2, step
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == ACCENT, step
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), f"{step} scrolls sideways"
    result = page.evaluate(LOW_CONTRAST_JS)
    assert result["low"] == [], step


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("width", [390, 1024])
def test_the_unsubscribe_link_of_a_branded_list_opens_under_its_masthead_and_unsubscribes(
    browser: Any,
    live_server: Any,
    branded: Callable[[str], MailingList],
    tmp_path: Path,
    language: str,
    width: int,
) -> None:
    mailing_list = branded(language)
    subscription = SubscriptionFactory.create(mailing_list=mailing_list)
    link = links.in_language(
        links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=mailing_list),
        language=language,
    )
    masthead_name = BRANDED[language]["masthead_name"]
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors = script_errors(page)
    try:
        page.goto(live_server.url + url_path(link))
        expected_dir = "rtl" if language == "ar" else "ltr"
        assert page.evaluate("document.documentElement.dir") == expected_dir
        assert page.title().endswith(masthead_name)
        _assert_brand_atop(page, masthead_name=masthead_name, width=width, step="the question")
        button = page.evaluate(
            "getComputedStyle(document.querySelector('.card .button')).backgroundColor"
        )
        assert button == "rgb(26, 95, 180)"  # ACCENT
        page.screenshot(path=str(tmp_path / f"brand_{language}_{width}.png"), full_page=True)

        with translation.override(language):
            unsubscribe, done = gettext("Unsubscribe"), gettext("You're unsubscribed")
        page.get_by_role("button", name=unsubscribe, exact=True).click()

        page.locator("h1", has_text=done).wait_for()
        subscription.refresh_from_db()
        assert subscription.state == State.UNSUBSCRIBED
        _assert_brand_atop(page, masthead_name=masthead_name, width=width, step="the result")
        page.screenshot(path=str(tmp_path / f"brand_{language}_{width}_done.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
