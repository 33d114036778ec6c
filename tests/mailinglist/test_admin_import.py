"""The CSV import pages of the admin: upload, preview, start, progress, and a real worker run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from devtools.workers import Worker
from mailinglist import csvfiles, imports, subscriptions
from mailinglist.models import ImportJob, MailingList, Subscriber, Subscription, Suppression
from tests.factories import MailingListFactory, SubscriptionFactory
from tests.mailinglist.admin_helpers import EXPORT
from tests.polling import wait_until

State = Subscription.State
IMPORT = "/admin/mailinglist/subscriber/import/"
NOTE = "Agreed at the 2024 reader survey, box ticked"


def _upload(name: str, content: str | bytes) -> SimpleUploadedFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


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


# --- The whole path: admin upload -> Redis -> real worker -> progress ---------------------------


@pytest.mark.integration
def test_an_uploaded_import_runs_in_the_worker_and_reports_its_progress(
    celery_worker: Worker, staff_user: User, client: Client
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
