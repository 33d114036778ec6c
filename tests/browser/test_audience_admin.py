"""The audience pages of the admin, pressed in Chromium by the people whose role they are for.

An Audience manager logs in through the login form and uses every control the way a person does
(links, file pickers, action menus, confirmation pages, downloads); each test then reads the
database, the downloaded file or the SMTP sink (through a real worker) for what the control did.
A Viewer is shown none of the controls that change anything.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist.addresses import email_hash
from mailinglist.models import ImportJob, MailingList, Subscriber, Subscription, Suppression
from operations.models import MailCheck
from tests.browser.staff import log_in, script_errors
from tests.factories import MailingListFactory, SubscriptionFactory, logo_png
from tests.polling import wait_until
from tests.roles.helpers import AUDIENCE_MANAGER, PASSWORD, PUBLISHER, VIEWER, role_user

pytestmark = pytest.mark.browser

State = Subscription.State
NOTE = "Ticked the newsletter box at the 2026 reader survey"
SURE = "Yes, I\N{RIGHT SINGLE QUOTATION MARK}m sure"  # the admin's delete confirmation


def _as(page: Any, live_server: Any, role: str, next_path: str = "") -> Any:
    user = role_user(role)
    log_in(page, live_server.url, username=user.username, password=PASSWORD, next_path=next_path)
    return user


def _press(page: Any, name: str) -> None:
    """Press a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def _run_action(page: Any, label: str, *emails: str) -> None:
    """Tick the rows of `emails` on the subscriber list, pick the action, press Go."""
    for email in emails:
        row = page.locator("#result_list tbody tr").filter(has_text=email)
        row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label=label)
    page.get_by_role("button", name="Go").click()


def _daily() -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


def test_import_a_csv_preview_it_and_the_worker_imports_it(
    page: Any, live_server: Any, celery_worker: Worker, tmp_path: Path
) -> None:
    daily = _daily()
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="already@example.com")
    upload = tmp_path / "survey.csv"
    upload.write_text(
        "email,name\nada@example.com,Ada\nalready@example.com,Al\nnot an address,Broken\n"
        "grace@example.com,Grace\n",
        encoding="utf-8",
    )
    errors = script_errors(page)
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/subscriber/")

    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Add them to").select_option("daily")
    page.get_by_label("These people already consented to this list").check()
    page.get_by_label("How and when they agreed").fill(NOTE)
    _press(page, "Preview the import")

    # The preview: what would happen, and nothing imported yet.
    counts = page.locator("#import-counts")
    assert counts.locator("[data-count=imported]").inner_text() == "2"
    assert counts.locator("[data-count=merged]").inner_text() == "1"
    assert counts.locator("[data-count=invalid]").inner_text() == "1"
    assert "not an address" in page.locator("#import-errors").inner_text()
    assert not Subscriber.objects.filter(email="ada@example.com").exists()

    _press(page, "Import 2 subscribers")
    # The page polls the job while the worker imports, and shows the report when it is done.
    page.locator("#import-report").wait_for(state="visible", timeout=60_000)

    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.DONE, celery_worker.log_tail()
    assert page.locator("#import-state").inner_text() == "Done"
    assert page.locator("[data-count=imported]").inner_text() == "2"
    active = Subscription.objects.filter(mailing_list=daily, state=State.ACTIVE)
    assert set(active.values_list("subscriber__email", flat=True)) == {
        "already@example.com",
        "ada@example.com",
        "grace@example.com",
    }
    assert errors == []


def test_export_the_filtered_list_and_the_selected_rows_as_csv_downloads(
    page: Any, live_server: Any
) -> None:
    daily = _daily()
    weekly = MailingListFactory.create(slug="weekly", name="Weekly")
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="ada@example.com")
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="=cmd@example.com")
    SubscriptionFactory.create(mailing_list=weekly, subscriber__email="weekly@example.com")
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/subscriber/")

    page.locator("#changelist-filter").get_by_role("link", name="Daily").click()
    page.wait_for_load_state()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV (current filter)").click()
    filtered = _rows(download.value)

    with page.expect_download() as download:
        _run_action(page, "Export selected as CSV", "ada@example.com")
    selected = _rows(download.value)

    assert download.value.suggested_filename.startswith("subscribers-")
    assert {row["email"] for row in filtered} == {"ada@example.com", "'=cmd@example.com"}
    assert [row["email"] for row in selected] == ["ada@example.com"]


def _rows(download: Any) -> list[dict[str, str]]:
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


def test_erase_a_subscriber_through_the_action_and_its_confirmation_page(
    page: Any, live_server: Any
) -> None:
    daily = _daily()
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="gone@example.com")
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="stays@example.com")
    errors = script_errors(page)
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/subscriber/")

    _run_action(page, "Erase (GDPR) …", "gone@example.com")
    page.wait_for_load_state()
    assert page.locator("#erase-subscribers").inner_text().strip() == "gone@example.com"
    assert Subscriber.objects.filter(email="gone@example.com").exists()  # only asked so far
    _press(page, "Yes, erase them")

    assert "Erased 1 subscriber(s)" in page.locator(".messagelist").inner_text()
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["stays@example.com"]
    entry = Suppression.objects.get(email_hash=email_hash("gone@example.com"))
    assert (entry.reason, entry.email) == (Suppression.Reason.ERASED, "")
    assert errors == []


def test_unsubscribe_everywhere_and_resend_a_confirmation_from_the_action_menu(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    daily = _daily()
    weekly = MailingListFactory.create(slug="weekly", name="Weekly")
    leaving = SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="leaving@example.com"
    ).subscriber
    SubscriptionFactory.create(subscriber=leaving, mailing_list=weekly)
    SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="waiting@example.com", state=State.PENDING
    )
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/subscriber/")

    _run_action(page, "Unsubscribe from all lists", "leaving@example.com")
    page.wait_for_load_state()
    assert "Unsubscribed 1 subscriber(s) from 2" in page.locator(".messagelist").inner_text()
    assert set(leaving.subscriptions.values_list("state", flat=True)) == {State.UNSUBSCRIBED}

    _run_action(page, "Resend confirmation", "waiting@example.com")
    page.wait_for_load_state()
    assert "Confirmation requested for 1 subscriber(s)" in page.locator(".messagelist").inner_text()
    (received,) = smtp_sink.wait_for(1, timeout=60)
    assert received.rcpt_tos == ["waiting@example.com"]
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None and "/confirm/" in body.get_content()


def test_add_and_remove_a_suppression_entry(page: Any, live_server: Any) -> None:
    errors = script_errors(page)
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/suppression/")

    page.get_by_role("link", name=re.compile(r"^Add suppression")).click()
    page.get_by_label("Email address").fill("Blocked@Example.com")
    page.get_by_label("Reason").select_option(label="Added by staff")
    page.get_by_label("Note").fill("Asked by phone")
    _press(page, "Save")

    entry = Suppression.objects.get()
    assert (entry.email, entry.reason, entry.note) == (
        "Blocked@example.com",
        Suppression.Reason.MANUAL,
        "Asked by phone",
    )
    page.locator("#result_list").get_by_role("link", name="Blocked@example.com").click()
    page.get_by_role("link", name="Delete").click()
    _press(page, SURE)

    assert not Suppression.objects.exists()
    assert errors == []


def test_add_rename_and_delete_a_mailing_list(page: Any, live_server: Any) -> None:
    errors = script_errors(page)
    _as(page, live_server, AUDIENCE_MANAGER, "mailinglist/mailinglist/")

    page.get_by_role("link", name=re.compile(r"^Add mailing list")).click()
    # Typed key by key: the admin's script fills the slug from the name as a person types.
    page.locator("#id_name").press_sequentially("Evening Edition")
    assert page.locator("#id_slug").input_value() == "evening-edition"
    _press(page, "Save")
    created = MailingList.objects.get(slug="evening-edition")
    assert created.name == "Evening Edition"

    assert created.language == "en"  # English unless chosen

    page.locator("#result_list").get_by_role("link", name="Evening Edition").click()
    page.locator("#id_name").fill("Evening Briefing")
    # Its mail, and the pages its links open, will be in Arabic.
    page.get_by_label("Language").select_option("ar")
    _press(page, "Save")
    renamed = MailingList.objects.get(pk=created.pk)
    assert (renamed.name, renamed.language) == ("Evening Briefing", "ar")

    page.locator("#result_list").get_by_role("link", name="Evening Briefing").click()
    page.get_by_role("link", name="Delete").click()
    _press(page, SURE)
    assert not MailingList.objects.filter(pk=created.pk).exists()
    assert errors == []


def test_brand_a_lists_mail_with_a_logo_colours_and_an_address(
    page: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    logo = tmp_path / "ledger.png"
    logo.write_bytes(logo_png(400, 100).read())
    daily = _daily()
    errors = script_errors(page)
    _as(page, live_server, AUDIENCE_MANAGER, f"mailinglist/mailinglist/{daily.pk}/change/")

    page.get_by_label("Masthead name").fill("The Ledger Morning")
    page.locator("#id_logo").set_input_files(str(logo))
    page.get_by_label("Logo alt").fill("The Ledger")
    page.get_by_label("Footer text").fill("Edited overnight in Springfield.")
    page.get_by_label("Postal address").fill("2 Quay Street, Springfield")
    # A colour readers could not read on white is refused, and nothing typed is lost.
    page.get_by_label("Accent colour").fill("#ffdd55")
    _press(page, "Save and continue editing")
    page.get_by_text("too light to read on white").wait_for()
    assert page.get_by_label("Footer text").input_value() == "Edited overnight in Springfield."
    assert MailingList.objects.get(pk=daily.pk).masthead_name == ""

    page.get_by_label("Accent colour").fill("#1a5fb4")
    page.locator("#id_logo").set_input_files(str(logo))  # files are never kept
    _press(page, "Save and continue editing")
    saved = MailingList.objects.get(pk=daily.pk)
    assert (saved.masthead_name, saved.accent_colour) == ("The Ledger Morning", "#1a5fb4")
    assert (saved.logo_width, saved.logo_height, saved.logo_alt) == (400, 100, "The Ledger")
    assert saved.postal_address == "2 Quay Street, Springfield"
    # The logo is served where mail links to it.
    served = page.request.get(live_server.url + saved.logo.url)
    assert served.status == 200 and served.headers["content-type"] == "image/png"
    assert errors == []


def test_a_publisher_sends_a_mail_check_that_the_worker_delivers(
    page: Any, live_server: Any, celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    publisher = _as(page, live_server, PUBLISHER)

    page.get_by_role("link", name="Send a mail check").click()
    assert page.get_by_label("Recipient").input_value() == publisher.email
    _press(page, "Save")

    (received,) = smtp_sink.wait_for(1, timeout=60)
    check = wait_until(lambda: MailCheck.objects.exclude(state=MailCheck.State.QUEUED).first())
    assert received.rcpt_tos == [publisher.email]
    assert (check.state, check.requested_by) == (MailCheck.State.SENT, publisher)


def test_a_viewer_sees_the_audience_but_no_control_that_changes_it(
    page: Any, live_server: Any
) -> None:
    daily = _daily()
    reader = SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="reader@example.com"
    ).subscriber
    _as(page, live_server, VIEWER, "mailinglist/subscriber/")

    assert page.locator("#result_list").get_by_text("reader@example.com").is_visible()
    assert page.locator("select[name=action]").count() == 0
    assert page.locator("input.action-select").count() == 0
    assert page.get_by_role("link", name="Import CSV").count() == 0
    assert page.get_by_role("link", name=re.compile("Export CSV")).count() == 0

    page.get_by_role("link", name="reader@example.com").click()
    page.wait_for_load_state()
    # (The header's "Log out" is a button too; the page's own content has none.)
    assert page.locator("#content-main").locator("[type=submit]").count() == 0
    assert page.get_by_role("link", name="Delete").count() == 0

    for path, add in (
        ("mailinglist/suppression/", "Add suppression"),
        ("mailinglist/mailinglist/", "Add mailing list"),
        ("operations/mailcheck/", "Add mail check"),
    ):
        page.goto(f"{live_server.url}/admin/{path}")
        assert page.get_by_role("link", name=re.compile(f"^{add}")).count() == 0, path
    assert Subscriber.objects.get().pk == reader.pk
