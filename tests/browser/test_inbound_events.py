"""Staff read what came back by mail: the inbound events list and its filter, in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from newsletters.inbound.process import inbound_message_process
from tests.browser.staff import log_in, script_errors
from tests.newsletters.inbound.samples import BOUNCE_ADDRESS, mail_for, sent

pytestmark = pytest.mark.browser


def test_the_list_shows_each_event_and_filters_by_kind(
    page: Any, live_server: Any, staff_user: User, settings: Any
) -> None:
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS
    bounced = sent(email="gone@readers-isp.example")
    complained = sent(email="angry@readers-isp.example")
    for name, message in (("gmail_hard", bounced), ("arf_abuse", complained)):
        assert inbound_message_process(raw=mail_for(name, message), source="imap").kind in {
            "hard-bounce",
            "complaint",
        }
    errors = script_errors(page)

    log_in(page, live_server.url, username="staff", password="pw-for-tests-1")
    page.goto(f"{live_server.url}/admin/newsletters/inboundevent/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    with page.expect_navigation():
        page.locator("#changelist-filter").get_by_role("link", name="Spam complaint").click()

    assert rows.count() == 1
    assert "feedback report (abuse)" in rows.first.inner_text()
    assert "angry@readers-isp.example" in rows.first.inner_text()
    assert page.get_by_role("link", name="Add inbound event").count() == 0
    assert errors == []
