from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings

from outbox.backend import OutboxEmailBackend

pytestmark = pytest.mark.browser


def test_article_page_reads_well_on_a_phone(page: Any, live_server: Any) -> None:
    page.set_viewport_size({"width": 375, "height": 740})

    page.goto(live_server.url + "/")

    assert "tidal park" in page.locator("h1").inner_text()
    assert page.locator("footer.site-footer").is_visible()
    # Nothing wider than the screen: a reader on a phone never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_staff_log_in_and_read_a_message_in_the_outbox(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    User.objects.create_superuser(
        username="editor", email="editor@example.com", password="correct-horse-9"
    )
    with override_settings(OUTBOX_DIR=tmp_path):
        message = EmailMultiAlternatives(
            subject="Your morning briefing", body="Plain text edition", to=["reader@example.com"]
        )
        message.attach_alternative("<h1 id='hero'>Morning briefing</h1>", "text/html")
        OutboxEmailBackend().send_messages([message])

        page.goto(live_server.url + "/admin/")
        page.get_by_label("Username").fill("editor")
        page.get_by_label("Password").fill("correct-horse-9")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Local outbox").click()
        page.get_by_role("link", name="Your morning briefing").click()

        assert page.locator("#text-part").inner_text().strip() == "Plain text edition"
        frame = page.frame_locator("iframe[title='HTML part']")
        assert frame.locator("#hero").inner_text() == "Morning briefing"


def test_the_api_docs_open_from_the_admin_home_without_any_cdn(page: Any, live_server: Any) -> None:
    User.objects.create_superuser(username="chief", email="c@example.com", password="pw-9-chief")
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("chief")
    page.get_by_label("Password").fill("pw-9-chief")
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="API docs").click()

    page.get_by_text("Newsdesk API").first.wait_for()
    page.get_by_text("/api/v1/digests", exact=True).first.wait_for()
    assert outside == []  # Swagger UI is served from our own static files
