"""An import job's life: a preview that writes nothing, one start, one run, a recorded failure."""

from __future__ import annotations

import pytest

from mailinglist import csvfiles, imports
from mailinglist.csvfiles import CsvFormatError, ParsedRow
from mailinglist.models import ConsentEvent, ImportJob, MailingList, Subscriber, Subscription
from tests.factories import SubscriptionFactory
from tests.mailinglist.imports_helpers import NOTE, job_counts

State = Subscription.State


def test_the_preview_counts_what_the_import_will_do_and_writes_nothing(
    daily: MailingList,
) -> None:
    SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="there@example.com", state=State.ACTIVE
    )
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nnew@example.com\nthere@example.com\nnew@example.com\nbad\n",
        file_name="people.csv",
        is_consented=True,
        consent_note=NOTE,
    )

    imports.import_job_preview(job=job)

    assert job.state == ImportJob.State.PREVIEWED
    assert job_counts(job) == {
        "imported": 1,
        "merged": 1,
        "duplicate": 1,
        "skipped_unsubscribed": 0,
        "suppressed": 0,
        "invalid": 1,
    }
    assert job.errors == [
        {"line": 5, "email": "bad", "reason": "Enter a valid email address, like name@example.com."}
    ]
    assert Subscriber.objects.count() == 1
    assert csvfiles.csv_rows_sample(text=job.content) == [
        ParsedRow(line=2, email="new@example.com", name=""),
        ParsedRow(line=3, email="there@example.com", name=""),
        ParsedRow(line=4, email="new@example.com", name=""),
    ]


def test_a_job_starts_once_and_runs_once(daily: MailingList) -> None:
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nada@example.com\n",
        file_name="people.csv",
        is_consented=True,
        consent_note=NOTE,
    )

    assert imports.import_job_start(job_id=job.pk, enqueue=False) is True
    assert imports.import_job_start(job_id=job.pk, enqueue=False) is False
    assert imports.import_job_run(job_id=job.pk) is not None
    assert imports.import_job_run(job_id=job.pk) is None  # a re-delivered task does nothing
    assert Subscription.objects.count() == 1
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT).count() == 1


def test_a_previewed_job_is_never_run_by_a_stray_task(daily: MailingList) -> None:
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nada@example.com\n",
        file_name="people.csv",
        is_consented=False,
        consent_note="",
    )

    assert imports.import_job_run(job_id=job.pk) is None
    assert Subscriber.objects.count() == 0


def test_consent_without_a_note_is_refused(daily: MailingList) -> None:
    with pytest.raises(ValueError, match="note"):
        imports.import_job_create(
            mailing_list=daily,
            text="email\nada@example.com\n",
            file_name="people.csv",
            is_consented=True,
            consent_note="   ",
        )


def test_a_failure_marks_the_job_failed_keeps_finished_chunks_and_is_raised(
    daily: MailingList, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\na@example.com\nb@example.com\nc@example.com\n",
        file_name="people.csv",
        is_consented=True,
        consent_note=NOTE,
    )
    # The stored file changed under the job: its third row can no longer be read.
    ImportJob.objects.filter(pk=job.pk).update(
        content=job.content.replace("c@example.com", "x" * 200_000)
    )
    imports.import_job_start(job_id=job.pk, enqueue=False)

    with pytest.raises(CsvFormatError):
        imports.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.State.FAILED
    assert job.finished_at is not None
    assert "CsvFormatError: Line 4" in job.error
    assert (job.processed_rows, job.imported_count) == (2, 2)
    assert Subscriber.objects.count() == 2
