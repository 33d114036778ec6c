"""The staff side of the audience through Django's test client: lists, subscribers, CSV in/out."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from mailinglist import csvfiles, imports, preferences, subscriptions
from mailinglist.addresses import email_hash
from mailinglist.models import (
    ConsentEvent,
    ImportJob,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from mailinglist.subscriptions import RequestMeta
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.polling import wait_until
from tests.worker_process import WorkerProcess

State = Subscription.State
SUBSCRIBERS = "/admin/mailinglist/subscriber/"
EXPORT = "/admin/mailinglist/subscriber/export/"
IMPORT = "/admin/mailinglist/subscriber/import/"
NOTE = "Agreed at the 2024 reader survey, box ticked"


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


@pytest.fixture
def weekly(db: None) -> MailingList:
    return MailingListFactory.create(slug="weekly", name="Weekly")


def _emails(response) -> set[str]:
    return {subscriber.email for subscriber in response.context["cl"].result_list}


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="subscribers-')
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def _upload(name: str, content: str | bytes) -> SimpleUploadedFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


# --- Lists -------------------------------------------------------------------------------------


def test_the_list_admin_counts_active_and_pending_subscribers_in_one_query(
    staff: Client, daily: MailingList, weekly: MailingList, django_assert_max_num_queries
) -> None:
    SubscriptionFactory.create_batch(3, mailing_list=daily, state=State.ACTIVE)
    SubscriptionFactory.create_batch(2, mailing_list=daily, state=State.PENDING)
    SubscriptionFactory.create(mailing_list=daily, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=weekly, state=State.PENDING)
    MailingListFactory.create_batch(5)  # more rows must not mean more queries

    with django_assert_max_num_queries(12):
        response = staff.get("/admin/mailinglist/mailinglist/")

    assert response.status_code == 200
    counts = {m.slug: (m.active_count, m.pending_count) for m in response.context["cl"].result_list}
    assert counts["daily"] == (3, 2)
    assert counts["weekly"] == (0, 1)


def test_adding_a_list_prefills_its_slug_from_the_name(staff: Client, db: None) -> None:
    response = staff.get("/admin/mailinglist/mailinglist/add/")

    assert response.status_code == 200
    assert response.context["adminform"].prepopulated_fields[0]["field"].name == "slug"


# --- Subscribers: list, filters, search, page --------------------------------------------------


def test_subscription_filters_match_one_subscription_together(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    active_daily = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE).subscriber
    # Active somewhere and on daily, but not active on daily: must not match "active on daily".
    mixed = SubscriberFactory.create()
    SubscriptionFactory.create(subscriber=mixed, mailing_list=daily, state=State.PENDING)
    SubscriptionFactory.create(subscriber=mixed, mailing_list=weekly, state=State.ACTIVE)
    imported = SubscriptionFactory.create(
        mailing_list=weekly, state=State.ACTIVE, source=Subscription.Source.IMPORT
    ).subscriber

    assert _emails(staff.get(SUBSCRIBERS, {"list": "daily", "state": "active"})) == {
        active_daily.email
    }
    assert _emails(staff.get(SUBSCRIBERS, {"state": "pending"})) == {mixed.email}
    assert _emails(staff.get(SUBSCRIBERS, {"list": "weekly"})) == {mixed.email, imported.email}
    assert _emails(staff.get(SUBSCRIBERS, {"source": "import"})) == {imported.email}
    assert _emails(staff.get(SUBSCRIBERS, {"state": "nonsense"})) == {
        active_daily.email,
        mixed.email,
        imported.email,
    }


def test_search_and_the_date_filter_narrow_the_list(staff: Client, daily: MailingList) -> None:
    ada = SubscriberFactory.create(email="ada@example.com", name="Ada Lovelace")
    SubscriberFactory.create(email="bob@example.com", name="Bob")

    assert _emails(staff.get(SUBSCRIBERS, {"q": "lovelace"})) == {ada.email}
    assert _emails(staff.get(SUBSCRIBERS, {"q": "ADA@"})) == {ada.email}
    dated = staff.get(
        SUBSCRIBERS,
        {
            "created_at__gte": "2000-01-01 00:00:00+00:00",
            "created_at__lt": "2999-01-01 00:00:00+00:00",
        },
    )
    assert _emails(dated) == {"ada@example.com", "bob@example.com"}
    assert (
        _emails(staff.get(SUBSCRIBERS, {"created_at__gte": "2999-01-01 00:00:00+00:00"})) == set()
    )


def test_the_changelist_renders_filters_buttons_and_escapes_subscriber_data(
    staff: Client, daily: MailingList
) -> None:
    SubscriptionFactory.create(
        mailing_list=daily, subscriber__name="<script>alert(1)</script>", state=State.ACTIVE
    )

    response = staff.get(SUBSCRIBERS, {"list": "daily", "q": "example"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for title in ("subscription state", "mailing list", "subscription source", "created at"):
        assert f"By {title}" in html
    assert 'href="/admin/mailinglist/subscriber/import/"' in html
    assert f'href="{EXPORT}?list=daily&amp;q=example"' in html
    assert "delete_selected" not in html
    assert "erase_selected" in html


def test_the_subscriber_page_shows_subscriptions_and_history_read_only(
    staff: Client, daily: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)
    subscriber = subscription.subscriber
    ConsentEvent.objects.create(
        subscriber=subscriber, kind=ConsentEvent.Kind.SIGNUP, lists=["daily"], ip="203.0.113.9"
    )

    response = staff.get(f"{SUBSCRIBERS}{subscriber.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "203.0.113.9" in html
    assert "Consent history" in html
    for formset in response.context["inline_admin_formsets"]:
        assert not formset.has_add_permission
        assert not formset.has_change_permission
        assert not formset.has_delete_permission
    assert staff.get(f"{SUBSCRIBERS}add/").status_code == 403
    assert staff.get(f"{SUBSCRIBERS}{subscriber.pk}/delete/").status_code == 403


def test_editing_a_name_cleans_it(staff: Client, daily: MailingList) -> None:
    subscriber = SubscriberFactory.create(name="Old")

    response = staff.post(
        f"{SUBSCRIBERS}{subscriber.pk}/change/",
        {
            "name": "  New\r\nName ",
            "subscriptions-TOTAL_FORMS": "0",
            "subscriptions-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    subscriber.refresh_from_db()
    assert subscriber.name == "New Name"


# --- Subscribers: actions ----------------------------------------------------------------------


def _act(client: Client, action: str, *subscribers: Subscriber, **extra: str):
    return client.post(
        SUBSCRIBERS,
        {"action": action, "_selected_action": [s.pk for s in subscribers], **extra},
    )


def test_unsubscribe_action_leaves_every_list_and_records_it(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE).subscriber
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=weekly, state=State.PENDING)
    bystander = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)

    response = _act(staff, "unsubscribe_everywhere", subscriber)

    assert response.status_code == 302
    assert set(subscriber.subscriptions.values_list("state", flat=True)) == {State.UNSUBSCRIBED}
    bystander.refresh_from_db()
    assert bystander.state == State.ACTIVE
    event = ConsentEvent.objects.get(subscriber=subscriber, kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert event.detail == {"method": "staff"}
    assert event.lists == ["daily", "weekly"]


def test_resend_confirmation_asks_only_for_pending_subscriptions(
    staff: Client, daily: MailingList, weekly: MailingList, django_capture_on_commit_callbacks
) -> None:
    pending = SubscriptionFactory.create(
        mailing_list=daily,
        state=State.PENDING,
        subscriber__email=f"pending@{uuid.uuid4().hex[:12]}.example.com",
    ).subscriber
    active = SubscriptionFactory.create(mailing_list=weekly, state=State.ACTIVE).subscriber

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = _act(staff, "resend_confirmation", pending, active)

    assert response.status_code == 302
    assert len(enqueued) == 1  # the pending one; the active one needs nothing


def test_erasing_asks_first_then_leaves_only_a_hash(
    staff: Client, daily: MailingList, staff_user: User
) -> None:
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="Gone@Example.com"
    ).subscriber
    LogEntry.objects.log_actions(
        user_id=staff_user.pk, queryset=[subscriber], action_flag=CHANGE, change_message="x"
    )

    confirm = _act(staff, "erase_selected", subscriber)

    assert confirm.status_code == 200
    assert "Gone@Example.com" in confirm.content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()

    done = _act(staff, "erase_selected", subscriber, post="yes")

    assert done.status_code == 302
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.email) == (Suppression.Reason.ERASED, "")
    assert suppression.email_hash == email_hash("Gone@Example.com")
    content_type = ContentType.objects.get_for_model(Subscriber)
    assert not LogEntry.objects.filter(content_type=content_type).exists()
    erase = ConsentEvent.objects.get(kind=ConsentEvent.Kind.ERASE)
    assert erase.detail == {"by": "staff"}


# --- Subscribers: CSV export -------------------------------------------------------------------


def test_the_export_holds_exactly_what_the_current_filter_and_search_show(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    wanted = [
        SubscriptionFactory.create(
            mailing_list=daily, state=State.ACTIVE, subscriber__name=f"Wanted {n}"
        ).subscriber
        for n in range(3)
    ]
    SubscriptionFactory.create(subscriber=wanted[0], mailing_list=weekly, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=daily, state=State.PENDING, subscriber__name="Wanted")
    SubscriptionFactory.create(mailing_list=weekly, state=State.ACTIVE, subscriber__name="Wanted")
    SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE, subscriber__name="Other")
    query = {"list": "daily", "state": "active", "q": "wanted", "p": "2"}

    changelist = staff.get(SUBSCRIBERS, {k: v for k, v in query.items() if k != "p"})
    redirect = staff.get(EXPORT, query)  # a page number is dropped: the export is every page
    rows = _csv(staff.get(redirect["Location"]))

    assert redirect.status_code == 302
    assert rows[0] == ["email", "name", "created_at", "lists"]
    assert {row[0] for row in rows[1:]} == _emails(changelist) == {s.email for s in wanted}
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email[wanted[0].email][3] == "daily:active;weekly:unsubscribed"
    assert by_email[wanted[1].email][1] == "Wanted 1"


def test_export_selected_exports_only_those(staff: Client, daily: MailingList) -> None:
    ada, _, cy = SubscriberFactory.create_batch(3)

    rows = _csv(_act(staff, "export_selected", ada, cy))

    assert sorted(row[0] for row in rows[1:]) == sorted([ada.email, cy.email])


def test_a_bad_filter_on_the_export_goes_back_to_the_list(staff: Client, db: None) -> None:
    response = staff.get(EXPORT, {"created_at__gte": "not a date"})

    assert response.status_code == 302
    assert response["Location"] == f"{SUBSCRIBERS}?e=1"


# --- Subscribers: CSV import -------------------------------------------------------------------


def test_upload_preview_and_import(staff: Client, daily: MailingList) -> None:
    SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="there@example.com", state=State.ACTIVE
    )
    subscriptions.suppression_add(email="bounced@example.com", reason=Suppression.Reason.BOUNCED)
    text = (
        "email,name\n"
        "new@example.com,<b>New</b>\n"
        "there@example.com,There\n"
        "NEW@example.com,Again\n"
        "<script>x</script>,Bad\n"
        "bounced@example.com,Bounced\n"
    )

    form = staff.get(IMPORT)
    assert form.status_code == 200
    uploaded = staff.post(
        IMPORT,
        {
            "file": _upload("people.csv", text),
            "mailing_list": "daily",
            "is_consented": "on",
            "consent_note": NOTE,
        },
    )

    assert uploaded.status_code == 302, uploaded.content.decode()[:3000]
    job = ImportJob.objects.get()
    assert uploaded["Location"] == f"/admin/mailinglist/importjob/{job.pk}/change/"
    assert (job.state, job.uploaded_by, job.consent_note) == (
        ImportJob.State.PREVIEWED,
        User.objects.get(username="staff"),
        NOTE,
    )
    assert Subscriber.objects.count() == 1  # nothing imported by a preview

    preview = staff.get(uploaded["Location"])
    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'value="Import 1 subscriber"' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
    assert "&lt;b&gt;New&lt;/b&gt;" in html  # the sample rows, escaped
    assert preview.context["job"].duplicate_count == 1
    assert [row.email for row in preview.context["sample"]][:2] == [
        "new@example.com",
        "there@example.com",
    ]

    started = staff.post(f"/admin/mailinglist/importjob/{job.pk}/start/")
    again = staff.post(f"/admin/mailinglist/importjob/{job.pk}/start/")

    assert started.status_code == again.status_code == 302
    job.refresh_from_db()
    assert job.state == ImportJob.State.QUEUED
    running = staff.get(f"/admin/mailinglist/importjob/{job.pk}/change/")
    assert b"<progress" in running.content

    # What the worker does with the task (tested end to end in the integration test below).
    imports.import_job_run(job_id=job.pk)
    progress = staff.get(f"/admin/mailinglist/importjob/{job.pk}/progress/").json()

    assert progress["state"] == "done"
    assert progress["is_finished"] is True
    assert (progress["processed_rows"], progress["total_rows"], progress["percent"]) == (5, 5, 100)
    assert progress["counts"] == {
        "imported": 1,
        "merged": 1,
        "duplicate": 1,
        "invalid": 1,
        "suppressed": 1,
        "skipped_unsubscribed": 0,
    }
    assert [(e["line"], e["email"]) for e in progress["errors"]] == [
        (5, "<script>x</script>"),
        (6, "bounced@example.com"),
    ]
    report = staff.get(f"/admin/mailinglist/importjob/{job.pk}/change/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in report
    assert Subscription.objects.get(subscriber__email="new@example.com").state == State.ACTIVE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00", "workbook"),
        ("email\nren\xe9@example.com\n".encode("latin-1"), "not UTF-8"),
        (b"name,phone\nAda,1\n", "email"),
        (b"email\nada@example.com\n\x00", "NUL"),
        ("email\n" + "x" * 200_000 + "\n", "longer than"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_gets_a_form_error_not_a_500(
    staff: Client, daily: MailingList, content: str | bytes, message: str
) -> None:
    response = staff.post(IMPORT, {"file": _upload("people.csv", content), "mailing_list": "daily"})

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_an_oversized_file_is_refused_before_it_is_read(
    staff: Client, daily: MailingList, monkeypatch
) -> None:
    monkeypatch.setattr(csvfiles, "MAX_UPLOAD_BYTES", 1024)

    response = staff.post(
        IMPORT,
        {"file": _upload("big.csv", "email\n" + "a@example.com\n" * 200), "mailing_list": "daily"},
    )

    assert response.status_code == 200
    assert "the limit is 1.0\xa0KB" in response.context["form"].errors["file"][0]


def test_already_consented_needs_a_note(staff: Client, daily: MailingList) -> None:
    response = staff.post(
        IMPORT,
        {
            "file": _upload("people.csv", "email\nada@example.com\n"),
            "mailing_list": "daily",
            "is_consented": "on",
            "consent_note": "  ",
        },
    )

    assert response.status_code == 200
    assert "only record of their consent" in response.context["form"].errors["consent_note"][0]
    assert not ImportJob.objects.exists()


def test_import_pages_are_for_staff_only(client: Client, daily: MailingList) -> None:
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nada@example.com\n",
        file_name="people.csv",
        is_consented=False,
        consent_note="",
    )

    for url in (IMPORT, EXPORT, f"/admin/mailinglist/importjob/{job.pk}/progress/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert client.post(f"/admin/mailinglist/importjob/{job.pk}/start/").status_code == 302
    job.refresh_from_db()
    assert job.state == ImportJob.State.PREVIEWED


def test_the_import_jobs_list_links_to_the_upload(staff: Client, daily: MailingList) -> None:
    imports.import_job_create(
        mailing_list=daily,
        text="email\nada@example.com\n",
        file_name="people.csv",
        is_consented=False,
        consent_note="",
    )

    listing = staff.get("/admin/mailinglist/importjob/")
    add = staff.get("/admin/mailinglist/importjob/add/")

    assert listing.status_code == 200
    assert "people.csv" in listing.content.decode()
    assert add.status_code == 302
    assert add["Location"] == IMPORT


# --- Suppression and consent records ------------------------------------------------------------


def test_adding_a_suppression_goes_through_the_domain_and_never_keeps_an_erased_address(
    staff: Client, db: None
) -> None:
    manual = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": " Blocked@EXAMPLE.com ", "reason": "manual", "note": "asked by phone"},
    )
    erased = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": "forget@example.com", "reason": "erased", "note": ""},
    )
    duplicate = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": "blocked@example.com", "reason": "bounced", "note": ""},
    )

    assert manual.status_code == erased.status_code == 302
    assert duplicate.status_code == 200
    assert "already on the suppression list" in duplicate.content.decode()
    stored = {s.email_hash: s for s in Suppression.objects.all()}
    assert stored[email_hash("blocked@example.com")].email == "Blocked@example.com"
    assert stored[email_hash("forget@example.com")].email == ""
    assert not LogEntry.objects.filter(object_repr__icontains="forget").exists()
    found = staff.get("/admin/mailinglist/suppression/", {"q": "Forget@example.com"})
    assert [s.email_hash for s in found.context["cl"].result_list] == [
        email_hash("forget@example.com")
    ]


def test_consent_records_are_listed_filtered_and_never_changed(
    staff: Client, daily: MailingList
) -> None:
    subscriber = SubscriberFactory.create()
    ConsentEvent.objects.create(subscriber=subscriber, kind=ConsentEvent.Kind.SIGNUP)
    event = ConsentEvent.objects.create(subscriber=subscriber, kind=ConsentEvent.Kind.CONFIRM)
    preferences.subscriber_erase(
        subscriber=SubscriberFactory.create(), meta=RequestMeta(), by="staff"
    )

    listing = staff.get("/admin/mailinglist/consentevent/", {"kind": "confirm"})

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [event]
    assert staff.get("/admin/mailinglist/consentevent/").status_code == 200
    assert staff.get("/admin/mailinglist/consentevent/add/").status_code == 403
    assert staff.get(f"/admin/mailinglist/consentevent/{event.pk}/delete/").status_code == 403
    page = staff.post(f"/admin/mailinglist/consentevent/{event.pk}/change/", {"kind": "signup"})
    assert page.status_code == 403
    event.refresh_from_db()
    assert event.kind == ConsentEvent.Kind.CONFIRM


# --- The whole path: admin upload -> Redis -> real worker -> progress ---------------------------


@pytest.mark.integration
def test_an_uploaded_import_runs_in_the_worker_and_reports_its_progress(
    celery_worker: WorkerProcess, staff_user: User, client: Client
) -> None:
    client.force_login(staff_user)
    MailingListFactory.create(slug="imported", name="Imported")
    rows = [f"reader-{n}@import.example.com,Reader {n}" for n in range(2500)]
    rows[10] = "not an address,Broken"
    rows[20] = rows[19].upper()
    text = "email,name\n" + "\n".join(rows) + "\n"

    uploaded = client.post(
        IMPORT,
        {
            "file": _upload("readers.csv", text),
            "mailing_list": "imported",
            "is_consented": "on",
            "consent_note": NOTE,
        },
    )
    assert uploaded.status_code == 302, uploaded.content.decode()[:3000]
    job = ImportJob.objects.get()
    assert (
        client.post(reverse("admin:mailinglist_importjob_start", args=[job.pk])).status_code == 302
    )

    progress_url = reverse("admin:mailinglist_importjob_progress", args=[job.pk])
    seen: list[int] = []

    def finished() -> dict[str, Any] | None:
        data = json.loads(client.get(progress_url).content)
        seen.append(data["processed_rows"])
        return data if data["is_finished"] else None

    final = wait_until(finished, timeout=60, interval=0.2)

    assert final["state"] == "done", (final, celery_worker.log_tail())
    assert (final["processed_rows"], final["total_rows"]) == (2500, 2500)
    assert final["counts"] == {
        "imported": 2498,
        "merged": 0,
        "duplicate": 1,
        "invalid": 1,
        "suppressed": 0,
        "skipped_unsubscribed": 0,
    }
    assert final["errors"] == [
        {
            "line": 12,
            "email": "not an address",
            "reason": "An email address cannot contain spaces or control characters.",
        }
    ]
    assert seen == sorted(seen)  # progress only moves forward
    assert (
        Subscription.objects.filter(mailing_list__slug="imported", state=State.ACTIVE).count()
        == 2498
    )
    page = client.get(reverse("admin:mailinglist_importjob_change", args=[job.pk]))
    assert "not an address" in page.content.decode()
