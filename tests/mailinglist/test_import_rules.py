"""What an import does with each row: consent, bad rows, duplicates, merges, refusals, counts."""

from __future__ import annotations

import csv
import io
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailinglist import imports, preferences, subscriptions, tasks
from mailinglist.addresses import email_hash
from mailinglist.csvfiles import CsvFormatError
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
from tests.mailinglist.imports_helpers import (
    NOTE,
    hostile_cells,
    import_file,
    is_storable,
    job_counts,
)

State = Subscription.State


def _unique(local: str) -> str:
    # Confirmation slots live in Redis for a day: a fresh domain keeps this test's slots free.
    return f"{local}@{uuid.uuid4().hex[:12]}.example.com"


# --- Importing -------------------------------------------------------------------------------


def test_valid_rows_become_active_subscriptions_with_the_consent_note_recorded(
    daily: MailingList, staff_user
) -> None:
    job = import_file("email,name\nada@example.com,Ada\nbob@example.com,\n", daily, by=staff_user)

    assert job.state == ImportJob.State.DONE
    assert job_counts(job) == {
        "imported": 2,
        "merged": 0,
        "duplicate": 0,
        "skipped_unsubscribed": 0,
        "suppressed": 0,
        "invalid": 0,
    }
    assert (job.total_rows, job.processed_rows, job.errors) == (2, 2, [])
    assert job.content == ""  # the uploaded file is personal data, not kept once imported
    subscriptions_made = Subscription.objects.filter(mailing_list=daily).select_related(
        "subscriber"
    )
    assert {(s.subscriber.email, s.subscriber.name) for s in subscriptions_made} == {
        ("ada@example.com", "Ada"),
        ("bob@example.com", ""),
    }
    for subscription in subscriptions_made:
        assert subscription.state == State.ACTIVE
        assert subscription.source == Subscription.Source.IMPORT
        assert subscription.confirmed_at is not None
    events = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT)
    assert events.count() == 2
    for event in events:
        assert event.lists == ["daily"]
        assert event.detail == {"consent": NOTE, "job": job.pk, "by": "staff"}


def test_without_consent_new_subscriptions_are_pending_and_get_a_confirmation(
    daily: MailingList, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    ada, bob = _unique("ada"), _unique("bob")
    published: list[tuple[list[int], list[int]]] = []
    monkeypatch.setattr(
        tasks.send_confirmations, "apply_async", lambda args, **_: published.append(args)
    )

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        job = import_file(f"email\n{ada}\n{bob}\n", daily, consent="")
    assert published == []  # nothing leaves before the chunk commits
    for callback in enqueued:
        callback()

    assert job.imported_count == 2
    assert set(Subscription.objects.values_list("state", flat=True)) == {State.PENDING}
    assert Subscription.objects.filter(confirmed_at__isnull=False).count() == 0
    event = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT).first()
    assert event is not None
    assert event.detail["consent"] is None
    assert event.detail["double_opt_in"] is True
    # One task carries the chunk's confirmations (a batch per 250 addresses), not one each.
    new_ids = sorted(Subscriber.objects.values_list("pk", flat=True))
    assert [(sorted(ids), lists) for ids, lists in published] == [(new_ids, [daily.pk])]


def test_bad_rows_are_reported_by_line_with_a_reason_and_not_imported(daily: MailingList) -> None:
    text = (
        "email,name\n"
        "ada@example.com,Ada\n"
        "not an address,Bob\n"
        "carol@,Carol\n"
        "dave@example.com\r\nX-Injected: yes,Dave\n"
        '"eve@example.com\nX-Injected: yes",Eve\n'
        ",Nobody\n"
        "frank@example.com,Frank\n"
    )

    job = import_file(text, daily)

    assert job.imported_count == 3  # ada, dave (the CRLF ends his row), frank
    assert job.invalid_count == 5
    lines = {row["line"]: row for row in job.errors}
    assert sorted(lines) == [3, 4, 6, 7, 8]
    assert lines[3]["email"] == "not an address"
    assert lines[4]["reason"] == "Enter a valid email address, like name@example.com."
    assert lines[6]["email"] == "X-Injected: yes"  # the line a bare CRLF started
    assert "control characters" in lines[7]["reason"]  # a quoted line break stays in its cell
    assert lines[8]["reason"] == "No email address in this row."
    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "ada@example.com",
        "dave@example.com",
        "frank@example.com",
    }


def test_duplicates_in_the_file_are_merged_into_the_first_row(daily: MailingList) -> None:
    job = import_file(
        "email,name\nAda@Example.com,First\nada@example.com,Second\nADA@EXAMPLE.COM,Third\n", daily
    )

    assert (job.imported_count, job.duplicate_count, job.errors) == (1, 2, [])
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.name) == ("Ada@example.com", "First")


def test_existing_subscribers_are_merged_and_only_a_blank_name_is_filled(
    daily: MailingList,
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    named = SubscriberFactory.create(email="Named@example.com", name="Kept")
    unnamed = SubscriberFactory.create(email="unnamed@example.com", name="")
    SubscriptionFactory.create(subscriber=named, mailing_list=weekly)
    SubscriptionFactory.create(subscriber=unnamed, mailing_list=daily)

    job = import_file("email,name\nnamed@EXAMPLE.com,Replaced\nunnamed@example.com,Filled\n", daily)

    assert Subscriber.objects.count() == 2
    named.refresh_from_db()
    unnamed.refresh_from_db()
    assert (named.name, unnamed.name) == ("Kept", "Filled")
    # Named joins this list (an existing subscriber, new here); unnamed was on it already.
    assert (job.imported_count, job.merged_count) == (1, 1)
    assert Subscription.objects.get(subscriber=named, mailing_list=daily).state == State.ACTIVE
    assert ConsentEvent.objects.filter(subscriber=unnamed).count() == 0


def test_active_and_pending_subscriptions_stay_as_they_are_even_with_consent(
    daily: MailingList,
) -> None:
    active = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)
    pending = SubscriptionFactory.create(mailing_list=daily, state=State.PENDING)

    job = import_file(f"email\n{active.subscriber.email}\n{pending.subscriber.email}\n", daily)

    assert (job.imported_count, job.merged_count) == (0, 2)
    active.refresh_from_db()
    pending.refresh_from_db()
    assert (active.state, pending.state) == (State.ACTIVE, State.PENDING)


def test_an_import_never_resubscribes_someone_who_unsubscribed(daily: MailingList) -> None:
    left = SubscriptionFactory.create(mailing_list=daily, state=State.UNSUBSCRIBED)

    job = import_file(f"email\nnew@example.com\n{left.subscriber.email.upper()}\n", daily)

    left.refresh_from_db()
    assert left.state == State.UNSUBSCRIBED
    assert (job.imported_count, job.skipped_unsubscribed_count) == (1, 1)
    (report,) = job.errors
    assert report["line"] == 3
    assert "never subscribes them again" in report["reason"]


def test_suppressed_addresses_are_refused_whatever_the_reason_erasure_included(
    daily: MailingList,
) -> None:
    erased = SubscriberFactory.create(email="gone@example.com")
    preferences.subscriber_erase(subscriber=erased, meta=RequestMeta(), by="staff")
    subscriptions.suppression_add(email="bounced@example.com", reason=Suppression.Reason.BOUNCED)
    subscriptions.suppression_add(email="blocked@example.com", reason=Suppression.Reason.MANUAL)

    job = import_file(
        "email\nGone@example.com\nok@example.com\nbounced@EXAMPLE.com\nblocked@example.com\n",
        daily,
    )

    assert (job.imported_count, job.suppressed_count) == (1, 3)
    assert [(row["line"], row["email"]) for row in job.errors] == [
        (2, "Gone@example.com"),
        (4, "bounced@example.com"),
        (5, "blocked@example.com"),
    ]
    assert "Erased on request" in job.errors[0]["reason"]
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ok@example.com"]
    # The erased entry still keeps no address.
    assert Suppression.objects.get(email_hash=email_hash("gone@example.com")).email == ""


def test_counts_add_up_to_the_rows_of_the_file_across_chunks(
    daily: MailingList, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 7)
    left = SubscriptionFactory.create(mailing_list=daily, state=State.UNSUBSCRIBED)
    on_list = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)
    subscriptions.suppression_add(email="bounced@example.com", reason=Suppression.Reason.BOUNCED)
    lines = ["email"]
    for n in range(30):
        lines.append(f"reader-{n}@example.com")
        lines.append(f"READER-{n}@example.com")  # a duplicate, often in the next chunk
        if n % 5 == 0:
            lines.append(f"broken-{n}")
    lines += [left.subscriber.email, on_list.subscriber.email, "bounced@example.com", ""]

    job = import_file("\n".join(lines), daily)

    counts = job_counts(job)
    assert counts == {
        "imported": 30,
        "merged": 1,
        "duplicate": 30,
        "skipped_unsubscribed": 1,
        "suppressed": 1,
        "invalid": 6,
    }
    assert sum(counts.values()) == job.total_rows == job.processed_rows == 69


# --- Hostile input (hypothesis) --------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(hostile_cells, min_size=1, max_size=12))
def test_an_import_of_hostile_rows_stores_only_valid_addresses(
    daily: MailingList, emails: list[str]
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["email"], *([email] for email in emails)])
    try:
        job = import_file(buffer.getvalue(), daily)
    except CsvFormatError:
        return

    assert job.state == ImportJob.State.DONE
    assert sum(job_counts(job).values()) == job.total_rows
    for stored in Subscriber.objects.values_list("email", flat=True):
        assert is_storable(stored)
