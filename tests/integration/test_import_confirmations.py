"""An import without consent, end to end: worker runs the import, batches go out, one mail each."""

from __future__ import annotations

import pytest

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist import imports
from mailinglist.models import ImportJob, Subscription
from tests.factories import MailingListFactory, SubscriptionFactory
from tests.polling import wait_until

pytestmark = pytest.mark.integration
State = Subscription.State


def test_an_import_without_consent_mails_each_new_reader_once_through_the_worker(
    celery_worker: Worker, smtp_sink: SmtpSink
) -> None:
    daily = MailingListFactory.create(slug="daily", name="The Morning Briefing")
    already = SubscriptionFactory.create(
        mailing_list=daily, state=State.ACTIVE, subscriber__email="already@example.com"
    )
    text = (
        "email,name\n"
        "ada@example.com,Ada\n"
        "bob@example.com,Bob\n"
        "ADA@example.com,Ada again\n"
        "not an address,Nobody\n"
        f"{already.subscriber.email},Already\n"
        "chen@bücher.example,李小龍\n"
    )
    job = imports.import_job_create(
        mailing_list=daily,
        text=text,
        file_name="people.csv",
        is_consented=False,
        consent_note="",
    )
    imports.import_job_preview(job=job)

    assert imports.import_job_start(job_id=job.pk)  # the worker imports it, then mails

    received = smtp_sink.wait_for(3)
    done = wait_until(
        lambda: ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.DONE).first()
    )
    celery_worker.wait_until_idle()
    assert len(smtp_sink.received) == 3  # the active reader and the duplicate get nothing
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "ada@example.com",
        "bob@example.com",
        "chen@xn--bcher-kva.example",
    ]
    for message in received:
        assert message.message["Subject"] == "Confirm your subscription to The Morning Briefing"
    assert (done.imported_count, done.merged_count, done.duplicate_count) == (3, 1, 1)
    assert Subscription.objects.filter(mailing_list=daily, state=State.PENDING).count() == 3
