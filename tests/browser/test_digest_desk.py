"""The digest page's send desk, pressed in Chromium the way an editor does.

Each test presses real buttons on the real page and asserts the state it leads to in the database
(and, where mail goes out, in the SMTP sink through a real worker). These are the controls that
once did nothing in a browser while test-client tests passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from mailinglist.models import MailingList, Subscription
from newsletters.models import Delivery, Digest, DigestStory, Story
from tests.browser.staff import log_in, script_errors
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.polling import wait_until
from tests.roles.helpers import (
    AUDIENCE_MANAGER,
    PASSWORD,
    PUBLISHER,
    VIEWER,
    role_group,
    role_user,
)

pytestmark = pytest.mark.browser


def _press(page: Any, name: str) -> None:
    """Press a button that submits a form, and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def _list(**fields: Any) -> MailingList:
    return MailingListFactory.create(name="The Morning Briefing", slug="morning", **fields)


def _featured(count: int) -> list[Story]:
    return [
        Story.objects.create(
            headline=f"Harbour story {n}",
            url=f"https://news.example.com/harbour-{n}",
            summary="<p>The sea comes back in.</p>",
            published_at=timezone.now() - timedelta(minutes=n),
            is_featured=True,
        )
        for n in range(count)
    ]


def _readers(mailing_list: MailingList, count: int) -> list[str]:
    return [
        SubscriptionFactory.create(mailing_list=mailing_list).subscriber.email for _ in range(count)
    ]


def _open(page: Any, live_server: Any, user: Any, digest: Digest) -> None:
    """Log in as `user` through the login form, landing on `digest`'s page."""
    log_in(
        page,
        live_server.url,
        username=user.username,
        password=PASSWORD,
        next_path=f"newsletters/digest/{digest.pk}/change/",
    )


def _desk(page: Any) -> str:
    return str(page.locator("#digest-desk").inner_text())


def test_fill_schedule_in_any_timezone_and_unschedule(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=_list(), subject="Tuesday briefing")
    _featured(3)
    errors = script_errors(page)
    _open(page, live_server, publisher, digest)

    _press(page, "Fill from featured stories since the last issue")
    assert DigestStory.objects.filter(digest=digest).count() == 3
    assert "Filled with 3 featured stories" in page.locator(".messagelist").inner_text()

    # The list's default zone is offered first; any IANA zone can be picked.
    assert page.locator("#id_zone").input_value() == "Europe/London"
    page.locator("#id_send_at").fill("2030-12-01T06:30")
    page.locator("#id_zone").select_option("Asia/Qatar")
    _press(page, "Schedule")

    digest.refresh_from_db()
    assert digest.state == Digest.State.SCHEDULED
    assert digest.send_at == datetime(2030, 12, 1, 3, 30, tzinfo=UTC)  # Qatar is UTC+3
    assert "Scheduled for 1 Dec 2030, 06:30 (Asia/Qatar)" in _desk(page)

    _press(page, "Unschedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert errors == []


def test_a_schedule_without_a_date_says_so_and_keeps_the_draft(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=_list(), subject="Tuesday briefing")
    _open(page, live_server, publisher, digest)

    # The browser itself asks for the date first (the input is required)…
    assert page.locator("#id_send_at").get_attribute("required") is not None
    page.locator("#id_send_at").evaluate("input => input.removeAttribute('required')")
    # …and without it the server says what is missing instead of scheduling.
    _press(page, "Schedule")

    assert "Pick a date and time to send at." in page.locator(".messagelist").inner_text()
    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT


def test_new_editor_adds_fills_and_sends_now_to_every_reader_once(
    page: Any, live_server: Any, celery_worker: Any, smtp_sink: Any
) -> None:
    """README's walk-through, as a new editor tries it: every reader gets it exactly once."""
    publisher = role_user(PUBLISHER)
    mailing_list = _list()
    readers = _readers(mailing_list, 5)
    SubscriptionFactory.create(mailing_list=mailing_list, state=Subscription.State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=mailing_list, state=Subscription.State.PENDING)
    _featured(2)
    errors = script_errors(page)

    log_in(page, live_server.url, username=publisher.username, password=PASSWORD)
    page.get_by_role("link", name="Digests", exact=True).click()
    page.get_by_role("link", name="Add digest").click()
    page.get_by_label("Mailing list").select_option(label="The Morning Briefing")
    page.get_by_label("Subject").fill("Your Tuesday briefing")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()
    digest = Digest.objects.get(subject="Your Tuesday briefing")
    assert digest.created_by == publisher

    _press(page, "Fill from featured stories since the last issue")
    _press(page, "Send now…")
    question = page.locator("#send-now-question").inner_text()
    assert "to 5 readers of The Morning Briefing" in question
    _press(page, "Yes, send it now")

    # Five readers, and then the mail telling the Publisher how the send ended.
    smtp_sink.wait_for(6, timeout=60)
    wait_until(lambda: Digest.objects.get(pk=digest.pk).state == Digest.State.SENT, timeout=60)
    # The page follows the send live and shows the end of it without a click.
    page.locator(".desk-state.state-sent").wait_for(timeout=30_000)
    to_readers = [m for m in smtp_sink.received if m.rcpt_tos != [publisher.email]]
    (notice,) = [m for m in smtp_sink.received if m.rcpt_tos == [publisher.email]]
    assert sorted(r for m in to_readers for r in m.rcpt_tos) == sorted(readers)
    assert len(to_readers) == 5  # each reader exactly once
    assert notice.message["Subject"] == "Sent: Your Tuesday briefing"
    assert "5 sent · 0 failed · 0 skipped · 0 to go, of 5" in _desk(page)
    assert "has been sent: 5 sent, 0 failed" in page.locator(".messagelist").inner_text()
    assert errors == []


def test_send_now_asks_first_and_no_means_nothing_is_sent(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    mailing_list = _list()
    _readers(mailing_list, 3)
    digest = Digest.objects.create(mailing_list=mailing_list, subject="Tuesday briefing")
    DigestStory.objects.create(digest=digest, story=_featured(1)[0], position=1)
    _open(page, live_server, publisher, digest)

    _press(page, "Send now…")
    assert "to 3 readers of The Morning Briefing" in page.locator("#send-now-question").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="No, go back").click()

    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert "Send desk" in _desk(page)


def _sending_digest(*, readers: int, sent: int = 0, failed: int = 0) -> Digest:
    """A digest going out, with its ledger; pending rows are not due, so no worker takes them."""
    mailing_list = _list()
    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject="Tuesday briefing",
        state=Digest.State.SENDING,
        snapshot_at=timezone.now() - timedelta(minutes=2),
        send_at=timezone.now() - timedelta(minutes=2),
    )
    later = timezone.now() + timedelta(hours=1)
    for n in range(readers):
        state = "sent" if n < sent else "failed" if n < sent + failed else "pending"
        Delivery.objects.create(
            digest=digest,
            subscriber=SubscriberFactory.create(),
            state=state,
            sent_at=timezone.now() if state == "sent" else None,
            next_attempt_at=later if state == "pending" else None,
            last_error="550 no such user" if state == "failed" else "",
        )
    return digest


def test_a_scheduled_digest_can_be_cancelled(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(
        mailing_list=_list(),
        subject="Tuesday briefing",
        state=Digest.State.SCHEDULED,
        send_at=timezone.now() + timedelta(days=1),
    )
    _open(page, live_server, publisher, digest)

    _press(page, "Cancel")

    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert "Cancelled" in _desk(page)


def test_pause_resume_and_cancel_a_send(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = _sending_digest(readers=4, sent=1)
    errors = script_errors(page)
    _open(page, live_server, publisher, digest)
    assert "1 sent · 0 failed · 0 skipped · 3 to go, of 4" in _desk(page)

    _press(page, "Pause")
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.PAUSED
    _press(page, "Resume")
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENDING
    _press(page, "Pause")
    _press(page, "Cancel")

    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert Delivery.objects.filter(digest=digest, state="skipped").count() == 3
    assert "Cancelled" in _desk(page)
    assert errors == []


def test_resend_to_the_undelivered_after_a_send(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = _sending_digest(readers=3, sent=1, failed=2)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=timezone.now())
    _open(page, live_server, publisher, digest)

    _press(page, "Resend to the undelivered (2)")

    assert not Delivery.objects.filter(digest=digest, state="failed").exists()
    assert Digest.objects.get(pk=digest.pk).state in {Digest.State.SENDING, Digest.State.SENT}
    assert "Sending again to 2 reader(s)" in page.locator(".messagelist").inner_text()


def test_progress_moves_on_the_page_without_a_reload(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = _sending_digest(readers=4)
    _open(page, live_server, publisher, digest)
    assert page.locator("#delivery-bar").evaluate("bar => bar.value") == 0

    Delivery.objects.filter(
        digest=digest, pk__in=Delivery.objects.filter(digest=digest).values("pk")[:2]
    ).update(state="sent", sent_at=timezone.now())

    page.wait_for_function("document.getElementById('delivery-bar').value === 2", timeout=15_000)
    assert "2 sent" in page.locator("#delivery-text").inner_text()
    assert "to go" in page.locator("#delivery-text").inner_text()


def test_the_intro_is_markdown_with_its_preview_beside_it(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=_list(), subject="Tuesday briefing")
    _open(page, live_server, publisher, digest)

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
    digest = Digest.objects.create(mailing_list=_list(), subject="Tuesday briefing")
    story = _featured(1)[0]
    DigestStory.objects.create(digest=digest, story=story, position=1)
    _open(page, live_server, publisher, digest)

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


def test_test_sends_go_to_me_or_to_the_lists_seed_list(
    page: Any, live_server: Any, celery_worker: Any, smtp_sink: Any
) -> None:
    publisher = role_user(PUBLISHER)
    mailing_list = _list(
        seed_addresses="desk@newsroom.example\nnot an address\nchief@newsroom.example"
    )
    digest = Digest.objects.create(mailing_list=mailing_list, subject="Tuesday briefing")
    DigestStory.objects.create(digest=digest, story=_featured(1)[0], position=1)
    _open(page, live_server, publisher, digest)

    _press(page, "Send a test")
    (mine,) = smtp_sink.wait_for(1)
    assert mine.rcpt_tos == [publisher.email]
    assert mine.message["Subject"].startswith("[TEST] ")

    smtp_sink.clear()
    page.locator("#desk-test-to").select_option("seed")
    _press(page, "Send a test")
    seeds = smtp_sink.wait_for(2)
    assert sorted(r for m in seeds for r in m.rcpt_tos) == [
        "chief@newsroom.example",
        "desk@newsroom.example",
    ]
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.DRAFT  # a test sends nothing else


def test_two_person_rule_the_author_alone_cannot_send(
    page: Any, browser: Any, live_server: Any
) -> None:
    author = role_user(PUBLISHER, username="author")
    second = role_user(PUBLISHER, username="second")
    mailing_list = _list(requires_second_approval=True)
    _readers(mailing_list, 2)
    digest = Digest.objects.create(
        mailing_list=mailing_list, subject="Tuesday briefing", created_by=author
    )
    DigestStory.objects.create(digest=digest, story=_featured(1)[0], position=1)
    _open(page, live_server, author, digest)

    page.locator("#id_send_at").fill("2030-12-01T06:30")
    _press(page, "Ask to schedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.AWAITING_APPROVAL
    assert page.get_by_role("button", name="Approve and schedule").count() == 0
    assert "another Publisher has to approve" in _desk(page)
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
    _open(other, live_server, second, digest)
    _press(other, "Approve and schedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.SCHEDULED
    assert digest.approved_by == second and digest.scheduled_by == author
    other.context.close()


def test_the_second_person_can_send_a_request_back_to_draft(page: Any, live_server: Any) -> None:
    author = role_user(PUBLISHER, username="author")
    second = role_user(PUBLISHER, username="second")
    mailing_list = _list(requires_second_approval=True)
    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject="Tuesday briefing",
        state=Digest.State.AWAITING_APPROVAL,
        send_at=timezone.now() + timedelta(days=1),
        scheduled_by=author,
    )
    _open(page, live_server, second, digest)

    _press(page, "Back to draft")

    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert digest.scheduled_by is None
    assert "Back to draft" in page.locator(".messagelist").inner_text()


def test_a_viewer_sees_the_desk_but_no_button(page: Any, live_server: Any) -> None:
    viewer = role_user(VIEWER)
    digest = _sending_digest(readers=2)
    _open(page, live_server, viewer, digest)

    assert "0 sent" in _desk(page)
    assert page.locator("#digest-desk button").count() == 0


def test_a_digest_that_started_sending_cannot_be_deleted(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)  # may delete drafts
    digest = _sending_digest(readers=2)
    draft = Digest.objects.create(mailing_list=digest.mailing_list, subject="A draft")
    _open(page, live_server, publisher, digest)

    assert page.get_by_role("link", name="Delete").count() == 0
    response = page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/delete/")
    assert response is not None and response.status == 403
    assert Digest.objects.filter(pk=digest.pk).exists()

    page.goto(f"{live_server.url}/admin/newsletters/digest/{draft.pk}/change/")
    page.get_by_role("link", name="Delete").click()
    _press(page, "Yes, I’m sure")  # noqa: RUF001 - the admin's own button text
    assert not Digest.objects.filter(pk=draft.pk).exists()


def test_the_report_and_its_ledger_csv_from_the_digest_page(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    # The ledger names every reader: downloading it is an export, the Audience manager's right.
    publisher.groups.add(role_group(AUDIENCE_MANAGER))
    digest = _sending_digest(readers=3, sent=1, failed=1)
    Delivery.objects.filter(digest=digest, state="pending").update(
        state="skipped", last_error="Unsubscribed since the snapshot."
    )
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=timezone.now())
    _open(page, live_server, publisher, digest)

    page.get_by_role("link", name="Report").click()
    page.locator("#nd-figures").wait_for()
    assert page.locator("#nd-sent").inner_text() == "1"
    assert page.locator("#nd-failed").inner_text() == "1"
    assert "550 no such user" in page.locator("#nd-failures").inner_text()

    with page.expect_download() as download_info:
        page.locator("#nd-ledger-csv").click()
    rows = Path(download_info.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 4  # a header and one row per reader
    assert sum("failed" in row for row in rows[1:]) == 1
