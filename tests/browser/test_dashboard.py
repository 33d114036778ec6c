"""The newsroom dashboard in Chromium: a figure moves when a reader confirms, the window picker
changes the period, and the page runs without a script error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from mailinglist import links
from mailinglist.models import ConsentEvent, Subscription
from tests.browser.staff import log_in, script_errors
from tests.dashboard.builders import days_ago, event, forget_dashboard_cache
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-9"


@pytest.fixture(autouse=True)
def _no_kept_figures() -> Iterator[None]:
    forget_dashboard_cache()
    yield
    forget_dashboard_cache()


def _figure(page: Any, selector: str) -> int:
    return int(page.locator(selector).inner_text().replace(",", "").replace("+", ""))


def test_a_reader_confirming_moves_the_dashboard_and_the_window_picker_changes_the_period(
    page: Any, live_server: Any
) -> None:
    User.objects.create_superuser(username="editor", email="e@example.com", password=PASSWORD)
    morning = MailingListFactory.create(
        name="The Morning Briefing", slug="morning", is_welcome_enabled=False
    )
    SubscriptionFactory.create(mailing_list=morning)
    waiting = SubscriptionFactory.create(
        mailing_list=morning,
        subscriber=SubscriberFactory.create(email="new.reader@example.com"),
        state=Subscription.State.PENDING,
    )
    # A confirmation two months ago: inside 90 days, outside 30.
    event(ConsentEvent.Kind.CONFIRM, at=days_ago(60))
    errors = script_errors(page)

    log_in(page, live_server.url, username="editor", password=PASSWORD)
    active = '#nd-lists tr[data-list="morning"] .nd-active'
    assert _figure(page, active) == 1
    assert _figure(page, "#nd-confirmations-total") == 0

    # The reader opens the link from their confirmation mail and presses the button.
    reader = page.context.new_page()
    confirm = links.confirm_url(subscriber=waiting.subscriber, list_ids=[morning.pk])
    reader.goto(live_server.url + urlsplit(confirm).path)
    reader.get_by_role("button", name="Yes, subscribe me").click()
    reader.wait_for_load_state()
    reader.close()
    page.reload()

    assert _figure(page, active) == 2
    assert _figure(page, "#nd-confirmations-total") == 1
    assert page.locator("#nd-audience-table tbody tr").count() == 30
    assert page.get_by_role("link", name="30 days").get_attribute("aria-current") == "page"

    page.get_by_role("link", name="90 days").click()
    page.wait_for_load_state()

    assert page.get_by_role("link", name="90 days").get_attribute("aria-current") == "page"
    assert page.locator("#nd-audience-table tbody tr").count() == 90
    assert page.locator("#nd-audience-title").inner_text().endswith("last 90 days")
    assert _figure(page, "#nd-confirmations-total") == 2
    # The table alternative opens for a person who wants the figures.
    page.locator("#nd-audience summary").click()
    assert page.locator("#nd-audience-table").is_visible()
    assert errors == []


def test_the_admin_home_fits_a_phone_and_keeps_the_operations_beside_or_below(
    page: Any, live_server: Any
) -> None:
    User.objects.create_superuser(username="editor", email="e@example.com", password=PASSWORD)
    MailingListFactory.create(name="The Morning Briefing", slug="morning")
    errors = script_errors(page)

    log_in(page, live_server.url, username="editor", password=PASSWORD)
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server.url + "/admin/")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        main = page.locator("#content-main").bounding_box()
        operations = page.locator("#operations-links").bounding_box()
        assert main is not None and operations is not None
        if width == 1280:
            # Beside the main column, at its top: not under the app list.
            assert operations["x"] >= main["x"] + main["width"] - 1
            assert operations["y"] < main["y"] + 200
        else:
            assert operations["y"] >= main["y"] + main["height"] - 1
        page.get_by_role("link", name="API docs").wait_for()
    assert errors == []
