"""Staff login throttling pressed in Chromium: 5 wrong passwords, then even the right one is
refused with a page that says until when; once the lock is lifted the right one works."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.contrib.auth.models import User

from tests.browser.staff import log_in
from tests.roles.helpers import EDITOR, PASSWORD, role_user

pytestmark = pytest.mark.browser


def test_five_wrong_passwords_lock_the_login_until_the_lock_is_lifted(
    page: Any, browser: Any, live_server: Any, staff_user: User
) -> None:
    editor = role_user(EDITOR)
    for attempt in range(1, 6):
        log_in(page, live_server.url, username=editor.username, password=f"wrong-{attempt}")
        if attempt < 5:
            assert "Please enter the correct username and password" in page.content()
    assert page.locator("h1").inner_text() == "Too many failed logins"

    log_in(page, live_server.url, username=editor.username, password=PASSWORD)

    assert page.locator("h1").inner_text() == "Too many failed logins"
    text = page.locator("#content-main").inner_text()
    assert "After 5 wrong passwords" in text
    assert "Try again in 15 minutes" in text
    page.get_by_role("link", name="Back to the login page").click()
    assert page.get_by_role("button", name="Log in").is_visible()
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/admin/login/")  # not logged in

    # A superuser lifts the lock in admin: Axes → Access attempts, delete the editor's.
    admin_tab = browser.new_context().new_page()
    log_in(admin_tab, live_server.url, username="staff", password="pw-for-tests-1")
    admin_tab.goto(f"{live_server.url}/admin/axes/accessattempt/")
    admin_tab.get_by_role("row", name=editor.username).get_by_role("checkbox").check()
    admin_tab.get_by_label("Action:").select_option(label="Delete selected access attempts")
    admin_tab.get_by_role("button", name="Go").click()
    admin_tab.get_by_role("button", name=re.compile("^Yes, I.m sure$")).click()
    assert not AccessAttempt.objects.filter(username=editor.username).exists()
    admin_tab.context.close()
    log_in(page, live_server.url, username=editor.username, password=PASSWORD)

    assert page.url == f"{live_server.url}/admin/"
    assert editor.username in page.locator("#user-tools").inner_text().lower()
