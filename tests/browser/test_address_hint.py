from __future__ import annotations

from typing import Any

import pytest

from mailinglist.models import SignupRequest
from tests.factories import MailingListFactory

pytestmark = pytest.mark.browser


def test_a_domain_typo_is_offered_corrected_and_the_button_fills_it_in(
    page: Any, live_server: Any
) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    page.goto(live_server.url + "/")
    footer = page.locator("footer")
    email = footer.get_by_label("Email address")
    email.fill("reader@gmial.con")
    email.blur()  # the reader leaves the field

    hint = footer.get_by_role("button", name="Did you mean reader@gmail.com?")
    hint.wait_for()
    hint.click()

    assert email.input_value() == "reader@gmail.com"
    assert footer.get_by_role("button", name="Did you mean reader@gmail.com?").count() == 0


def test_the_hint_never_blocks_submitting_what_was_typed(page: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    page.goto(live_server.url + "/")
    footer = page.locator("footer")
    email = footer.get_by_label("Email address")
    email.fill("reader@hotmial.com")
    email.blur()
    footer.get_by_role("button", name="Did you mean reader@hotmail.com?").wait_for()
    page.wait_for_timeout(2200)  # past the time trap, as a person would be

    footer.get_by_role("button", name="Subscribe").click()

    footer.locator("[data-signup-status]").filter(has_text="Almost done!").wait_for()
    assert SignupRequest.objects.get().email == "reader@hotmial.com"


def test_a_common_address_gets_no_hint(page: Any, live_server: Any) -> None:
    MailingListFactory.create(slug="morning", name="The Morning Briefing", is_default_checked=True)
    page.goto(live_server.url + "/")
    footer = page.locator("footer")
    email = footer.get_by_label("Email address")
    email.fill("reader@gmail.com")
    email.blur()
    page.wait_for_timeout(200)
    assert footer.locator(".address-hint button").count() == 0
