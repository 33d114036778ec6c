"""The digest page's send desk, pressed in Chromium the way an editor does: fill and schedule,
send now, send a test, pause, resume, cancel and resend, a send's progress and its report.

Each test presses real buttons on the real page and asserts the state it leads to in the database
(and, where mail goes out, in the SMTP sink through a real worker). These are the controls that
once did nothing in a browser while test-client tests passed. Who may press what is in
test_digest_desk_rights.py, writing the digest in test_digest_editing.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from mailinglist.models import Subscription
from newsletters.models import Delivery, Digest, DigestStory
from tests.browser.digest_desk_helpers import (
    desk_text,
    featured_stories,
    morning_list,
    open_digest,
    press,
    sending_digest,
    subscribe_readers,
)
from tests.browser.staff import log_in, script_errors
from tests.factories import SubscriptionFactory
from tests.polling import wait_until
from tests.roles.helpers import AUDIENCE_MANAGER, PASSWORD, PUBLISHER, role_group, role_user

pytestmark = pytest.mark.browser


def test_fill_schedule_in_any_timezone_and_unschedule(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=morning_list(), subject="Tuesday briefing")
    featured_stories(3)
    errors = script_errors(page)
    open_digest(page, live_server, publisher, digest)

    press(page, "Fill from featured stories since the last issue")
    assert DigestStory.objects.filter(digest=digest).count() == 3
    assert "Filled with 3 featured stories" in page.locator(".messagelist").inner_text()

    # The list's default zone is offered first; any IANA zone can be picked.
    assert page.locator("#id_zone").input_value() == "Europe/London"
    page.locator("#id_send_at").fill("2030-12-01T06:30")
    page.locator("#id_zone").select_option("Asia/Qatar")
    press(page, "Schedule")

    digest.refresh_from_db()
    assert digest.state == Digest.State.SCHEDULED
    assert digest.send_at == datetime(2030, 12, 1, 3, 30, tzinfo=UTC)  # Qatar is UTC+3
    assert "Scheduled for 1 Dec 2030, 06:30 (Asia/Qatar)" in desk_text(page)

    press(page, "Unschedule")
    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert errors == []


def test_a_schedule_without_a_date_says_so_and_keeps_the_draft(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(mailing_list=morning_list(), subject="Tuesday briefing")
    open_digest(page, live_server, publisher, digest)

    # The browser itself asks for the date first (the input is required)…
    assert page.locator("#id_send_at").get_attribute("required") is not None
    page.locator("#id_send_at").evaluate("input => input.removeAttribute('required')")
    # …and without it the server says what is missing instead of scheduling.
    press(page, "Schedule")

    assert "Pick a date and time to send at." in page.locator(".messagelist").inner_text()
    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT


def test_new_editor_adds_fills_and_sends_now_to_every_reader_once(
    page: Any, live_server: Any, celery_worker: Any, smtp_sink: Any
) -> None:
    """README's walk-through, as a new editor tries it: every reader gets it exactly once."""
    publisher = role_user(PUBLISHER)
    mailing_list = morning_list()
    readers = subscribe_readers(mailing_list, 5)
    SubscriptionFactory.create(mailing_list=mailing_list, state=Subscription.State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=mailing_list, state=Subscription.State.PENDING)
    featured_stories(2)
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

    press(page, "Fill from featured stories since the last issue")
    press(page, "Send now…")
    question = page.locator("#send-now-question").inner_text()
    assert "to 5 readers of The Morning Briefing" in question
    press(page, "Yes, send it now")

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
    assert "5 sent · 0 failed · 0 skipped · 0 to go, of 5" in desk_text(page)
    assert "has been sent: 5 sent, 0 failed" in page.locator(".messagelist").inner_text()
    assert errors == []


def test_send_now_asks_first_and_no_means_nothing_is_sent(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    mailing_list = morning_list()
    subscribe_readers(mailing_list, 3)
    digest = Digest.objects.create(mailing_list=mailing_list, subject="Tuesday briefing")
    DigestStory.objects.create(digest=digest, story=featured_stories(1)[0], position=1)
    open_digest(page, live_server, publisher, digest)

    press(page, "Send now…")
    assert "to 3 readers of The Morning Briefing" in page.locator("#send-now-question").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="No, go back").click()

    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert "Send desk" in desk_text(page)


def test_a_scheduled_digest_can_be_cancelled(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = Digest.objects.create(
        mailing_list=morning_list(),
        subject="Tuesday briefing",
        state=Digest.State.SCHEDULED,
        send_at=timezone.now() + timedelta(days=1),
    )
    open_digest(page, live_server, publisher, digest)

    press(page, "Cancel")

    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert "Cancelled" in desk_text(page)


def test_pause_resume_and_cancel_a_send(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = sending_digest(readers=4, sent=1)
    errors = script_errors(page)
    open_digest(page, live_server, publisher, digest)
    assert "1 sent · 0 failed · 0 skipped · 3 to go, of 4" in desk_text(page)

    press(page, "Pause")
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.PAUSED
    press(page, "Resume")
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.SENDING
    press(page, "Pause")
    press(page, "Cancel")

    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert Delivery.objects.filter(digest=digest, state="skipped").count() == 3
    assert "Cancelled" in desk_text(page)
    assert errors == []


def test_resend_to_the_undelivered_after_a_send(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = sending_digest(readers=3, sent=1, failed=2)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=timezone.now())
    open_digest(page, live_server, publisher, digest)

    press(page, "Resend to the undelivered (2)")

    assert not Delivery.objects.filter(digest=digest, state="failed").exists()
    assert Digest.objects.get(pk=digest.pk).state in {Digest.State.SENDING, Digest.State.SENT}
    assert "Sending again to 2 reader(s)" in page.locator(".messagelist").inner_text()


def test_progress_moves_on_the_page_without_a_reload(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    digest = sending_digest(readers=4)
    open_digest(page, live_server, publisher, digest)
    assert page.locator("#delivery-bar").evaluate("bar => bar.value") == 0

    Delivery.objects.filter(
        digest=digest, pk__in=Delivery.objects.filter(digest=digest).values("pk")[:2]
    ).update(state="sent", sent_at=timezone.now())

    page.wait_for_function("document.getElementById('delivery-bar').value === 2", timeout=15_000)
    assert "2 sent" in page.locator("#delivery-text").inner_text()
    assert "to go" in page.locator("#delivery-text").inner_text()


def test_test_sends_go_to_me_or_to_the_lists_seed_list(
    page: Any, live_server: Any, celery_worker: Any, smtp_sink: Any
) -> None:
    publisher = role_user(PUBLISHER)
    mailing_list = morning_list(
        seed_addresses="desk@newsroom.example\nnot an address\nchief@newsroom.example"
    )
    digest = Digest.objects.create(mailing_list=mailing_list, subject="Tuesday briefing")
    DigestStory.objects.create(digest=digest, story=featured_stories(1)[0], position=1)
    open_digest(page, live_server, publisher, digest)

    press(page, "Send a test")
    (mine,) = smtp_sink.wait_for(1)
    assert mine.rcpt_tos == [publisher.email]
    assert mine.message["Subject"].startswith("[TEST] ")

    smtp_sink.clear()
    page.locator("#desk-test-to").select_option("seed")
    press(page, "Send a test")
    seeds = smtp_sink.wait_for(2)
    assert sorted(r for m in seeds for r in m.rcpt_tos) == [
        "chief@newsroom.example",
        "desk@newsroom.example",
    ]
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.DRAFT  # a test sends nothing else


def test_the_report_and_its_ledger_csv_from_the_digest_page(page: Any, live_server: Any) -> None:
    publisher = role_user(PUBLISHER)
    # The ledger names every reader: downloading it is an export, the Audience manager's right.
    publisher.groups.add(role_group(AUDIENCE_MANAGER))
    digest = sending_digest(readers=3, sent=1, failed=1)
    Delivery.objects.filter(digest=digest, state="pending").update(
        state="skipped", last_error="Unsubscribed since the snapshot."
    )
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=timezone.now())
    open_digest(page, live_server, publisher, digest)

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
