"""A list's brand in its mail: defaults, logo size, campaign tags, a readable accent colour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from mailinglist.branding import LOGO_MAX_WIDTH, brand_of, link_tagged
from mailinglist.emails import email_render
from mailinglist.looks import accent_colour_validate, contrast_ratio
from mailinglist.models import MailingList
from tests.factories import MailingListFactory, SubscriberFactory, logo_png

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_a_list_without_a_brand_of_its_own_carries_the_sites(settings: Any) -> None:
    settings.MAILING_ADDRESS = "Newsroom, 1 Example Street, Springfield"
    brand = brand_of(MailingListFactory.create(slug="daily"))
    assert brand.name == "The Daily Ledger"
    assert brand.postal_address == "Newsroom, 1 Example Street, Springfield"
    assert (brand.logo_url, brand.accent, brand.footer_text) == ("", "#b3261e", "")
    assert brand.utm_campaign == "daily"  # tagging is on unless switched off


def test_a_logo_is_shown_at_most_200_px_wide_in_proportion_with_an_absolute_url() -> None:
    daily = MailingListFactory.create(slug="daily", masthead_name="The Morning Briefing")
    daily.logo.save("logo.png", logo_png(400, 100))

    brand = brand_of(MailingList.objects.get(pk=daily.pk))

    assert (brand.logo_width, brand.logo_height) == (LOGO_MAX_WIDTH, 50)
    assert brand.logo_url.startswith("http://127.0.0.1:8000/media/logos/")
    assert brand.logo_alt == "The Morning Briefing"  # the masthead name unless one is given


def test_a_small_logo_keeps_its_own_size() -> None:
    daily = MailingListFactory.create(slug="daily", logo_alt="Daily")
    daily.logo.save("logo.png", logo_png(120, 40))
    brand = brand_of(MailingList.objects.get(pk=daily.pk))
    assert (brand.logo_width, brand.logo_height, brand.logo_alt) == (120, 40, "Daily")


def test_story_links_get_the_lists_campaign_tags_and_keep_their_own() -> None:
    brand = brand_of(MailingListFactory.create(slug="daily"))
    assert link_tagged("https://news.example.com/a?id=7", brand=brand) == (
        "https://news.example.com/a?id=7&utm_source=newsletter&utm_medium=email&utm_campaign=daily"
    )
    tagged = link_tagged("https://news.example.com/a?utm_source=partner#top", brand=brand)
    assert tagged == (
        "https://news.example.com/a?utm_source=partner&utm_medium=email&utm_campaign=daily#top"
    )
    assert link_tagged("mailto:desk@example.com", brand=brand) == "mailto:desk@example.com"


def test_a_list_that_switches_tagging_off_leaves_links_alone() -> None:
    brand = brand_of(MailingListFactory.create(slug="daily", is_utm_enabled=False))
    assert link_tagged("https://news.example.com/a", brand=brand) == "https://news.example.com/a"


@pytest.mark.parametrize("colour", ["#b3261e", "#1a5fb4", "#000000"])
def test_a_dark_enough_accent_is_accepted(colour: str) -> None:
    accent_colour_validate(colour)
    assert contrast_ratio(colour, "#ffffff") >= 4.5


@pytest.mark.parametrize(
    ("colour", "why"),
    [("#ffcc00", "too light"), ("#ff6666", "too light"), ("red", "#rrggbb"), ("#12345", "#rrggbb")],
)
def test_an_accent_readers_could_not_read_or_no_colour_at_all_is_refused(
    colour: str, why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        accent_colour_validate(colour)


def test_a_logo_over_a_megabyte_or_of_another_kind_is_refused() -> None:
    daily = MailingListFactory.create(slug="daily")
    daily.logo = SimpleUploadedFile("logo.png", b"\x89PNG" + b"0" * (1024 * 1024), "image/png")
    with pytest.raises(ValidationError) as refused:
        daily.full_clean()
    assert "over 1 MB" in str(refused.value)
    daily.logo = SimpleUploadedFile("logo.svg", b"<svg/>", "image/svg+xml")
    with pytest.raises(ValidationError, match="svg"):
        daily.full_clean()


def test_transactional_mail_carries_its_lists_brand() -> None:
    daily = MailingListFactory.create(
        slug="daily",
        masthead_name="The Morning Briefing",
        accent_colour="#1a5fb4",
        footer_text="Made in Springfield by the night desk.",
        postal_address="2 Quay Street, Springfield",
    )
    daily.logo.save("logo.png", logo_png(400, 100))
    daily = MailingList.objects.get(pk=daily.pk)
    reader = SubscriberFactory.create(email="ada@example.com")
    context = {
        "brand": brand_of(daily),
        "subscriber": reader,
        "lists": [daily],
        "confirm_url": "https://x/confirm/",
        "cancel_links": [(daily, "https://x/u/")],
    }

    _subject, text, html = email_render(template="confirm", context=context)

    assert 'width="200" height="50" alt="The Morning Briefing"' in html
    assert "background:#1a5fb4" in html  # the button
    assert "Made in Springfield by the night desk." in html
    assert "The Morning Briefing, 2 Quay Street, Springfield" in html
    assert "Made in Springfield by the night desk.\nThe Morning Briefing, 2 Quay Street" in text


def test_an_accent_a_raw_update_broke_falls_back_to_the_sites_in_mail() -> None:
    daily = MailingListFactory.create(slug="daily")
    MailingList.objects.filter(pk=daily.pk).update(accent_colour="red;}a{")
    brand = brand_of(MailingList.objects.get(pk=daily.pk))
    assert (brand.accent, brand.accent_on_dark) == ("#b3261e", brand_of(None).accent_on_dark)
