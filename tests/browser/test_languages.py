"""The reader's pages in their language, pressed in Chromium: Arabic right to left at phone and
desktop widths, the form's answers and its script's words in the page's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation.trans_real import DjangoTranslation

from mailinglist import links
from mailinglist.models import SignupRequest, Subscription
from mailinglist.signup import ACCEPTED_MESSAGE
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_links import url_path

pytestmark = pytest.mark.browser

WIDTHS = [390, 1024]


def _in(language: str, text: str) -> str:
    with translation.override(language):
        return gettext(text)


def _script_words(language: str, text: str) -> str:
    return DjangoTranslation(language, domain="djangojs").gettext(text)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_footer_form_in_arabic_reads_right_to_left_and_answers_in_arabic(
    browser: Any, live_server: Any, tmp_path: Path, width: int
) -> None:
    MailingListFactory.create(
        slug="sabah", name="نشرة الصباح", language="ar", is_default_checked=True
    )
    context = browser.new_context(locale="ar", viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert page.evaluate("document.documentElement.lang") == "ar"
        # Nothing sticks out sideways (the off-screen honeypot included).
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        page.screenshot(path=str(tmp_path / f"article-ar-{width}.png"), full_page=True)

        footer = page.locator("footer")
        footer.get_by_label(_in("ar", "Email address")).fill("layla@example.com")
        page.wait_for_timeout(2200)  # past the time trap, as a person would be
        footer.get_by_role("button", name=_in("ar", "Subscribe"), exact=True).click()

        with translation.override("ar"):
            accepted = str(ACCEPTED_MESSAGE)
        assert not accepted.startswith("Almost done")  # a translation, not the English source
        footer.locator("[data-signup-status]").filter(has_text=accepted).wait_for()
        assert SignupRequest.objects.get().email == "layla@example.com"
    finally:
        context.close()


def test_the_address_hint_speaks_the_pages_language(browser: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="matin", name="Le Matin", is_default_checked=True)
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(live_server.url + "/subscribe/")
        email = page.get_by_label(_in("fr", "Email address"))
        email.fill("lecteur@gmial.com")
        email.blur()
        question = _script_words("fr", "Did you mean %(address)s?")
        assert not question.startswith("Did you")
        hint = page.get_by_role(
            "button", name=question % {"address": "lecteur@gmail.com"}, exact=True
        )
        hint.wait_for()
        hint.click()
        assert email.input_value() == "lecteur@gmail.com"
    finally:
        context.close()


def test_the_preference_page_a_list_links_to_opens_in_its_language_on_a_phone(
    browser: Any, live_server: Any, tmp_path: Path
) -> None:
    sabah = MailingListFactory.create(slug="sabah", name="نشرة الصباح", language="ar")
    reader = SubscriberFactory.create(email="layla@example.com", name="Layla")
    SubscriptionFactory.create(
        subscriber=reader, mailing_list=sabah, state=Subscription.State.ACTIVE
    )
    link = links.in_language(links.preferences_url(subscriber=reader), language="ar")
    # A phone whose browser asks for English: the link from the Arabic list decides.
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        page.goto(live_server.url + url_path(link))
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        page.screenshot(path=str(tmp_path / "preferences-ar-390.png"), full_page=True)

        page.locator("#preferences-form").get_by_label(_in("ar", "Your name")).fill("ليلى")
        save = pgettext_in("ar", "button: save the preferences", "Save")
        page.get_by_role("button", name=save, exact=True).click()
        # The answer after the redirect is still Arabic: the cookie kept the link's language.
        page.get_by_text(_in("ar", "Your preferences are saved.")).wait_for()
        assert page.evaluate("document.documentElement.lang") == "ar"
        reader.refresh_from_db()
        assert reader.name == "ليلى"
    finally:
        context.close()


def pgettext_in(language: str, context: str, text: str) -> str:
    with translation.override(language):
        return translation.pgettext(context, text)
