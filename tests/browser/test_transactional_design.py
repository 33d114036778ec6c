"""The confirmation and the welcome as readers see them, in Chromium: phone and desktop widths,
light and dark, English and Arabic, as mailinglist/emails.py sends them. Nothing scrolls
sideways, every piece of text keeps a contrast of 4.5:1 against what is behind it (the same
measure as the digest's), a dark logo stays visible in dark mode (and its alt text readable with
images off), and the button takes the list's accent, lightened for dark.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from mailinglist.branding import brand_of
from mailinglist.emails import confirmation_send, welcome_send
from mailinglist.looks import MIN_CONTRAST, contrast_ratio
from mailinglist.models import MailingList
from tests.browser.contrast import LOW_CONTRAST_JS
from tests.factories import MailingListFactory, SubscriberFactory, logo_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SENDERS = {"confirm": confirmation_send, "welcome": welcome_send}


def _hex(computed: str) -> str:
    """A colour as the browser computes it ("rgb(26, 95, 180)") as #rrggbb."""
    red, green, blue = (int(channel) for channel in re.findall(r"\d+", computed)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def _style(page: Any, selector: str, name: str) -> str:
    return str(page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).{name}"))


def _html_part(raw: bytes) -> str:
    body = message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


@pytest.fixture
def mailing_list(settings: Any, tmp_path: Path, request: pytest.FixtureRequest) -> MailingList:
    settings.MEDIA_ROOT = tmp_path
    language = request.param
    mailing_list = MailingListFactory.create(
        name="نشرة الصباح" if language == "ar" else "The Morning Briefing",
        slug=f"morning-{language}",
        description="أخبار الصباح في خمس دقائق."
        if language == "ar"
        else "The news in five minutes.",
        language=language,
        accent_colour="#1a5fb4",
        footer_text="Made in Springfield by the night desk.",
    )
    mailing_list.logo.save("logo.png", logo_png(320, 64))  # a dark logo
    return MailingList.objects.get(pk=mailing_list.pk)


def _sent_html(*, template: str, mailing_list: MailingList) -> str:
    reader = SubscriberFactory.create(name="Ada")
    mail.outbox.clear()
    SENDERS[template](subscriber=reader, lists=[mailing_list])
    [sent] = mail.outbox
    return _html_part(sent.message().as_bytes())


@pytest.mark.parametrize("mailing_list", ["en", "ar"], indirect=True)
@pytest.mark.parametrize("template", ["confirm", "welcome"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1024])
def test_the_mail_reads_at_every_width_in_both_schemes(
    browser: Any,
    mailing_list: MailingList,
    template: str,
    scheme: str,
    width: int,
    tmp_path: Path,
) -> None:
    html = _sent_html(template=template, mailing_list=mailing_list)
    brand = brand_of(mailing_list)
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        # The logo's URL points at the site, which this test does not serve: the browser gets
        # the uploaded file instead, so the screenshots show the dark logo on its plate.
        page.route(brand.logo_url, lambda route: route.fulfill(path=mailing_list.logo.path))
        page.set_content(html, wait_until="load")
        shot = f"{template}-{mailing_list.language}-{width}-{scheme}.png"
        page.screenshot(path=str(tmp_path / shot), full_page=True)

        expected_dir = "rtl" if mailing_list.language == "ar" else "ltr"
        assert page.evaluate("document.documentElement.dir") == expected_dir
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), "the mail scrolls sideways"
        result = page.evaluate(LOW_CONTRAST_JS)
        # The greeting, the list, its links, the footer: text was found.
        assert result["checked"] >= 6
        assert result["low"] == []
        plate = _style(page, ".plate", "backgroundColor")
        # On dark, the logo sits on white: a dark logo would vanish into the dark surface.
        assert (plate == "rgb(255, 255, 255)") == (scheme == "dark")
        # With images off (many clients' default) the logo's alt text shows in its place.
        behind = plate if scheme == "dark" else _style(page, ".container", "backgroundColor")
        alt_text = _style(page, ".plate img", "color")
        assert contrast_ratio(_hex(alt_text), _hex(behind)) >= MIN_CONTRAST
        if template == "confirm":
            accent = brand.accent_on_dark if scheme == "dark" else brand.accent
            assert _hex(_style(page, ".button", "backgroundColor")) == accent.lower()
    finally:
        context.close()
