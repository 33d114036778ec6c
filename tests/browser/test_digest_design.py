"""The digest as readers see it, in Chromium: phone, tablet and desktop widths, light and dark,
English and Arabic. Nothing scrolls sideways, every piece of text keeps a contrast of 4.5:1
against what is behind it (computed, not eyeballed), and a dark logo stays visible in dark mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailinglist.models import MailingList
from newsletters.proofs import digest_preview
from tests.browser.contrast import LOW_CONTRAST_JS
from tests.factories import MailingListFactory, logo_png
from tests.newsletters.digests import make_digest

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture
def digest_html(settings: Any, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    settings.MEDIA_ROOT = tmp_path
    language = request.param
    mailing_list = MailingListFactory.create(
        name="نشرة الصباح" if language == "ar" else "The Morning Briefing",
        slug=f"morning-{language}",
        language=language,
        accent_colour="#1a5fb4",
    )
    mailing_list.logo.save("logo.png", logo_png(320, 64))  # a dark logo
    digest = make_digest(stories=4, mailing_list=MailingList.objects.get(pk=mailing_list.pk))
    return digest_preview(digest=digest).html


@pytest.mark.parametrize("digest_html", ["en", "ar"], indirect=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 600, 1024])
def test_the_digest_reads_at_every_width_in_both_schemes(
    browser: Any, digest_html: str, scheme: str, width: int, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        # The logo's URL points at the site, which this test does not serve: an image blocked
        # by the page is still laid out at the size its <img> says.
        page.set_content(digest_html, wait_until="domcontentloaded")
        page.screenshot(path=str(tmp_path / f"digest-{width}-{scheme}.png"), full_page=True)

        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), "the digest scrolls sideways"
        result = page.evaluate(LOW_CONTRAST_JS)
        assert result["checked"] > 20  # the stories, the masthead, the footer: text was found
        assert result["low"] == []
        plate = page.evaluate("getComputedStyle(document.querySelector('.plate')).backgroundColor")
        # On dark, the logo sits on white: a dark logo would vanish into the dark surface.
        assert (plate == "rgb(255, 255, 255)") == (scheme == "dark")
    finally:
        context.close()


def test_the_contrast_check_finds_text_readers_could_not_read(browser: Any) -> None:
    page = browser.new_page()
    try:
        page.set_content(
            '<body style="background:#121212"><div style="background:#fff">'
            '<p style="color:#aaaaaa">pale grey on white</p><p>black on white</p></div>'
            '<p style="color:#333">dark grey on near black</p></body>'
        )
        low = page.evaluate(LOW_CONTRAST_JS)["low"]
        assert [line.split('"')[1] for line in low] == [
            "pale grey on white",
            "dark grey on near black",
        ]
    finally:
        page.close()
