"""Who may press what on the digest page's send desk, in Chromium: under the two-person rule the
author alone cannot send, and a second Publisher approves the request or sends it back to draft; a
Viewer sees the desk without a button; a digest that started sending cannot be deleted.

As in test_digest_desk.py, each test presses real buttons on the real page and asserts the state
it leads to in the database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from newsletters.models import Digest, DigestStory
from tests.browser.digest_desk_helpers import (
    desk_text,
    featured_stories,
    morning_list,
    open_digest,
    press,
    sending_digest,
    subscribe_readers,
)
from tests.roles.helpers import PUBLISHER, VIEWER, role_user

pytestmark = pytest.mark.browser


def test_two_person_rule_the_author_alone_cannot_send(
    page: Any, browser: Any, live_server: Any
) -> None:
    author = role_user(PUBLISHER, username="author")
    second = role_user(PUBLISHER, username="second")
    mailing_list = morning_list(requires_second_approval=True)
    subscribe_readers(mailing_list, 2)
    digest = Digest.objects.create(
        mailing_list=mailing_list, subject="Tuesday briefing", created_by=author
    )
    DigestStory.objects.create(digest=digest, story=featured_stories(1)[0], position=1)
    open_digest(page, live_server, author, digest)

    page.locator("#id_send_at").fill("2030-12-01T06:30")
    press(page, "Ask to schedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.AWAITING_APPROVAL
    assert page.get_by_role("button", name="Approve and schedule").count() == 0
    assert "another Publisher has to approve" in desk_text(page)
    # Not even a hand-made POST lets the author approve their own request.
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"/admin/newsletters/digest/{digest.pk}/approve/",
    )
    assert status == 403
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.AWAITING_APPROVAL

    other = browser.new_context().new_page()
    open_digest(other, live_server, second, digest)
    press(other, "Approve and schedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.SCHEDULED
    assert digest.approved_by == second and digest.scheduled_by == author
    other.context.close()


def test_the_second_person_can_send_a_request_back_to_draft(page: Any, live_server: Any) -> None:
    author = role_user(PUBLISHER, username="author")
    second = role_user(PUBLISHER, username="second")
    mailing_list = morning_list(requires_second_approval=True)
    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject="Tuesday briefing",
        state=Digest.State.AWAITING_APPROVAL,
        send_at=timezone.now() + timedelta(days=1),
        scheduled_by=author,
    )
    open_digest(page, live_server, second, digest)

    press(page, "Back to draft")

    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert digest.scheduled_by is None
    assert "Back to draft" in page.locator(".messagelist").inner_text()


def test_a_viewer_sees_the_desk_but_no_button(page: Any, live_server: Any) -> None:
    viewer = role_user(VIEWER)
    digest = sending_digest(readers=2)
    open_digest(page, live_server, viewer, digest)

    assert "0 sent" in desk_text(page)
    assert page.locator("#digest-desk button").count() == 0


def test_a_digest_that_started_sending_cannot_be_deleted(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)  # may delete drafts
    digest = sending_digest(readers=2)
    draft = Digest.objects.create(mailing_list=digest.mailing_list, subject="A draft")
    open_digest(page, live_server, publisher, digest)

    assert page.get_by_role("link", name="Delete").count() == 0
    response = page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/delete/")
    assert response is not None and response.status == 403
    assert Digest.objects.filter(pk=digest.pk).exists()

    page.goto(f"{live_server.url}/admin/newsletters/digest/{draft.pk}/change/")
    page.get_by_role("link", name="Delete").click()
    press(page, "Yes, I’m sure")  # noqa: RUF001 - the admin's own button text
    assert not Digest.objects.filter(pk=draft.pk).exists()
