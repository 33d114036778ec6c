from __future__ import annotations

from typing import Any

import pytest

from mailinglist.models import SignupRequest
from tests.factories import MailingListFactory

pytestmark = pytest.mark.browser


def _fill_footer_form(page: Any) -> None:
    footer = page.locator("footer")
    footer.get_by_label("Email address").fill("reader@example.com")
    footer.get_by_label("Weekend Reads").check()
    # A person takes a moment; the time trap ignores forms sent within 2 s of loading.
    page.wait_for_timeout(2200)


def test_footer_form_with_javascript_answers_in_place(page: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    MailingListFactory.create(slug="weekend", name="Weekend Reads")
    page.goto(live_server.url + "/")

    _fill_footer_form(page)
    page.locator("footer").get_by_role("button", name="Subscribe").click()

    status = page.locator("footer [data-signup-status]")
    status.filter(has_text="Almost done!").wait_for()
    assert page.url == live_server.url + "/"  # no reload, no navigation
    request = SignupRequest.objects.get()
    assert request.email == "reader@example.com"
    assert sorted(request.list_slugs) == ["morning", "weekend"]


def test_footer_form_shows_field_errors_in_place(page: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    page.goto(live_server.url + "/")
    footer = page.locator("footer")
    footer.get_by_label("Email address").fill(
        "a..b@example.com"
    )  # the browser accepts it; we do not
    footer.get_by_role("button", name="Subscribe").click()

    footer.locator("[data-errors-for=email] li").wait_for()
    assert footer.get_by_label("Email address").get_attribute("aria-invalid") == "true"
    assert not SignupRequest.objects.exists()


def test_footer_form_without_javascript_posts_and_redirects(browser: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    MailingListFactory.create(slug="weekend", name="Weekend Reads")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        _fill_footer_form(page)
        page.locator("footer").get_by_role("button", name="Subscribe").click()

        page.wait_for_url("**/subscribe/thanks/")
        assert "Check your inbox" in page.locator("h1").inner_text()
        assert SignupRequest.objects.get().email == "reader@example.com"
    finally:
        context.close()


def test_footer_form_can_be_used_with_the_keyboard_alone(page: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    page.goto(live_server.url + "/")
    page.locator("footer").get_by_label("Email address").focus()
    page.keyboard.type("keys@example.com")
    page.wait_for_timeout(2200)
    page.keyboard.press("Enter")

    page.locator("footer [data-signup-status]").filter(has_text="Almost done!").wait_for()
    assert SignupRequest.objects.get().email == "keys@example.com"
