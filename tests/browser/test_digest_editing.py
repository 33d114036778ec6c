"""Writing a digest on its page in Chromium: the intro in Markdown with its preview beside it,
and a story reworded for this digest only. Each test saves through the real page and asserts what
was stored and how it renders."""

from __future__ import annotations

from typing import Any

import pytest

from newsletters.models import Digest, DigestStory
from tests.browser.digest_desk_helpers import featured_stories, morning_list, open_digest
from tests.roles.helpers import PUBLISHER, role_user

pytestmark = pytest.mark.browser


def test_the_intro_is_markdown_with_its_preview_beside_it(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=morning_list(), subject="Tuesday briefing")
    open_digest(page, live_server, publisher, digest)

    page.get_by_label("Intro").fill(
        "Good **morning**. Read [the plan](https://news.example.com/plan).\n\n<script>x()</script>"
    )
    preview = page.locator(".markdown-preview")
    preview.locator("strong").wait_for()
    assert preview.locator("strong").inner_text() == "morning"
    assert preview.locator("a").get_attribute("href") == "https://news.example.com/plan"
    assert preview.locator("script").count() == 0
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()

    from newsletters.rendering import intro_html

    digest.refresh_from_db()
    assert digest.intro.startswith("Good **morning**.")
    html = intro_html(digest=digest)
    assert "<strong>morning</strong>" in html and "<script" not in html


def test_a_story_can_be_reworded_for_one_digest_only(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=morning_list(), subject="Tuesday briefing")
    story = featured_stories(1)[0]
    DigestStory.objects.create(digest=digest, story=story, position=1)
    open_digest(page, live_server, publisher, digest)

    page.locator("#id_items-0-headline_override").fill("The sea is coming back to the harbour")
    page.locator("#id_items-0-summary_override").fill("Why it *matters* for the city.")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_role("link", name="Preview").click()

    text = page.locator("#text-part").inner_text()
    assert "1. The sea is coming back to the harbour" in text
    assert "Why it matters for the city." in text
    story.refresh_from_db()
    assert story.headline == "Harbour story 0"  # the story itself keeps its wording
