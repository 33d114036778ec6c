"""A superuser pages through the local outbox, searches it and follows a link in a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test import override_settings

from outbox.backend import OutboxEmailBackend

pytestmark = pytest.mark.browser


def _write_briefings(count: int, *, site: str) -> None:
    """`Briefing 000` to reader000@example.com is the oldest; each has a link to `site`."""
    messages: list[EmailMessage] = []
    for number in range(count):
        message = EmailMultiAlternatives(
            subject=f"Briefing {number:03d}",
            body="Plain text edition",
            from_email="Tidal Park <news@example.com>",
            to=[f"reader{number:03d}@example.com"],
        )
        message.attach_alternative(
            "<!DOCTYPE html><html><head><title>Briefing</title></head><body>"
            f"<h1 id='hero'>Briefing {number:03d}</h1>"
            "<p id='script-check'>Scripts never run</p>"
            "<script>document.getElementById('script-check').textContent = 'ran'</script>"
            f"<p><a href='{site}/?from=briefing-{number:03d}'>Read it on the site</a></p>"
            "</body></html>",
            "text/html",
        )
        messages.append(message)
    assert OutboxEmailBackend().send_messages(messages) == count


def _log_in(page: Any, live_server: Any) -> None:
    User.objects.create_superuser(
        username="editor", email="editor@example.com", password="correct-horse-9"
    )
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Log in").click()


def _subjects(page: Any) -> list[str]:
    return [
        text.strip()
        for text in page.locator("#outbox-messages tbody tr td:first-child").all_inner_texts()
    ]


def _briefings(numbers: range) -> list[str]:
    return [f"Briefing {number:03d}" for number in numbers]


def test_a_superuser_pages_searches_and_follows_a_link_in_the_outbox(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    with override_settings(OUTBOX_DIR=tmp_path):
        _write_briefings(65, site=live_server.url)
        _log_in(page, live_server)
        page.get_by_role("link", name="Local outbox").click()

        # Page 1: the fifty newest.
        assert _subjects(page) == _briefings(range(64, 14, -1))
        assert "65 messages, newest first." in page.locator("#outbox-count").inner_text()

        page.get_by_role("link", name="Page 2").click()

        assert page.url == live_server.url + "/admin/outbox/?page=2"
        assert _subjects(page) == _briefings(range(14, -1, -1))
        assert page.locator("#outbox-pages [aria-current=page]").inner_text() == "2"

        # Search with the Enter key: an address, typed in another case.
        search = page.get_by_role("searchbox", name="Search")
        search.fill("READER007@example.com")
        search.press("Enter")
        page.wait_for_url("**/admin/outbox/?q=READER007*")

        assert _subjects(page) == ["Briefing 007"]
        assert page.locator("#outbox-messages tbody td").nth(1).inner_text() == (
            "reader007@example.com"
        )
        assert "1 message matches" in page.locator("#outbox-count").inner_text()

        # Search with the button: words from the subject.
        search.fill("briefing 06")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/admin/outbox/?q=briefing+06")

        assert _subjects(page) == _briefings(range(64, 59, -1))
        assert search.input_value() == "briefing 06"

        page.get_by_role("link", name="Briefing 062").click()
        preview = page.frame_locator("iframe[title='HTML part']")
        assert preview.locator("#hero").inner_text() == "Briefing 062"
        detail_url = page.url

        with page.expect_popup() as popup_info:
            preview.get_by_role("link", name="Read it on the site").click()
        popup = popup_info.value
        popup.wait_for_load_state()

        # The link opened its page in a new tab; the message stays where it was.
        assert popup.url == live_server.url + "/?from=briefing-062"
        assert "tidal park" in popup.locator("h1").inner_text()
        assert page.url == detail_url
        assert preview.locator("#hero").inner_text() == "Briefing 062"
        # And the mail's own script never ran, though links now work.
        assert preview.locator("#script-check").inner_text() == "Scripts never run"


def test_the_outbox_list_fits_a_phone(page: Any, live_server: Any, tmp_path: Path) -> None:
    with override_settings(OUTBOX_DIR=tmp_path):
        _write_briefings(60, site=live_server.url)
        _log_in(page, live_server)
        page.set_viewport_size({"width": 375, "height": 740})

        page.goto(live_server.url + "/admin/outbox/?page=2")

        assert _subjects(page) == _briefings(range(9, -1, -1))
        assert page.get_by_role("searchbox", name="Search").is_visible()
        assert page.get_by_role("link", name="Page 1").is_visible()
        # Each message is a block of lines there, so the page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
