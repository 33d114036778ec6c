"""The audit trail as a superuser uses it: change something, then find the change in the trail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditEntry
from tests.factories import MailingListFactory

pytestmark = pytest.mark.browser


def test_a_renamed_list_is_found_in_the_audit_trail_by_its_action(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    User.objects.create_superuser(
        username="editor", email="editor@example.com", password="correct-horse-9"
    )
    daily = MailingListFactory.create(slug="daily", name="Daily")
    # Another action, so that filtering has something to leave out.
    MailingListFactory.create(slug="weekly", name="Weekly")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/admin/mailinglist/mailinglist/{daily.pk}/change/")
    name = page.get_by_label("Name:", exact=True)
    name.fill("")
    name.press_sequentially("The Daily Briefing")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()

    # Something that is not a list change, as a second row the filter must hide.
    page.goto(f"{live_server.url}/admin/mailinglist/suppression/add/")
    page.get_by_label("Email address:", exact=True).fill("bounced@example.com")
    page.get_by_label("Reason:", exact=True).select_option("manual")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    assert AuditEntry.objects.count() == 2

    page.goto(live_server.url + "/admin/")
    page.get_by_role("link", name="Audit trail").last.click()
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2

    page.locator("#changelist-filter").get_by_role("link", name="list.change").click()

    page.wait_for_url(re.compile(r"action=list\.change"))
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "editor" in row
    assert "list.change" in row
    assert "mailinglist: The Daily Briefing" in row
    assert "127.0.0.1" in row
    page.screenshot(path=str(tmp_path / "audit-trail-1280.png"), full_page=True)

    # On a phone the same page still shows the entry and its filter.
    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    assert rows.count() == 1
    assert rows.first.get_by_text("editor").is_visible()
    # Only the table scrolls sideways, as every admin list does; the page itself fits.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("#changelist-filter").get_by_role("link", name="list.change").count()
    page.screenshot(path=str(tmp_path / "audit-trail-375.png"), full_page=True)
