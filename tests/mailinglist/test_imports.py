"""CSV import and export, called directly: reading files, the import's rules, its counts."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailinglist import csvfiles, imports, preferences, subscriptions
from mailinglist.addresses import email_hash, email_normalise
from mailinglist.csvfiles import CsvFormatError, ParsedRow, RowError
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

State = Subscription.State
NOTE = "Ticked 'send me the newsletter' on the 2024 reader survey"


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


def _import(
    text: str, mailing_list: MailingList, *, consent: str = NOTE, by: User | None = None
) -> ImportJob:
    job = imports.import_job_create(
        mailing_list=mailing_list,
        text=text,
        file_name="people.csv",
        is_consented=bool(consent),
        consent_note=consent,
        uploaded_by=by,
    )
    assert imports.import_job_start(job_id=job.pk, enqueue=False)
    done = imports.import_job_run(job_id=job.pk)
    assert done is not None
    return done


def _rows(text: str) -> list[ParsedRow | RowError]:
    return list(csvfiles.csv_rows_read(text=text))


def _unique(local: str) -> str:
    # Confirmation slots live in Redis for a day: a fresh domain keeps this test's slots free.
    return f"{local}@{uuid.uuid4().hex[:12]}.example.com"


def _counts(job: ImportJob) -> dict[str, int]:
    return {
        "imported": job.imported_count,
        "merged": job.merged_count,
        "duplicate": job.duplicate_count,
        "skipped_unsubscribed": job.skipped_unsubscribed_count,
        "suppressed": job.suppressed_count,
        "invalid": job.invalid_count,
    }


# --- Reading files ---------------------------------------------------------------------------


def test_a_header_with_email_and_name_in_any_case_is_read_and_other_columns_ignored() -> None:
    rows = _rows("Name,EMAIL,Signed up\nAda Lovelace, Ada@Example.COM ,2024-01-02\n")

    assert rows == [ParsedRow(line=2, email="Ada@example.com", name="Ada Lovelace")]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffemail;name\nada@example.com;Ada\n",  # Excel "CSV UTF-8" in a European locale
        "E-mail\tName\nada@example.com\tAda\n",
        "email address,name\r\nada@example.com,Ada\r\n",
    ],
)
def test_byte_order_mark_semicolons_tabs_and_header_variants_are_understood(text: str) -> None:
    assert _rows(text) == [ParsedRow(line=2, email="ada@example.com", name="Ada")]


def test_a_plain_list_of_addresses_needs_no_header_and_only_the_first_column_is_read() -> None:
    rows = _rows("ada@example.com,Ada\nbob@example.com,2024-05-01\n")

    assert rows == [
        ParsedRow(line=1, email="ada@example.com", name=""),
        ParsedRow(line=2, email="bob@example.com", name=""),
    ]


def test_line_numbers_are_the_spreadsheet_rows_header_first_blank_rows_counted() -> None:
    text = 'email,name\nada@example.com,Ada\n\n"bad address",x\nbob@example.com,"Bob\nSmith"\n,\n'

    rows = _rows(text)

    assert rows == [
        ParsedRow(line=2, email="ada@example.com", name="Ada"),
        RowError(line=4, email="bad address", reason=rows[1].reason),  # type: ignore[union-attr]
        ParsedRow(line=5, email="bob@example.com", name="Bob Smith"),
    ]
    assert "spaces" in rows[1].reason  # type: ignore[union-attr]


def test_a_row_without_an_address_is_reported_not_skipped() -> None:
    assert _rows("email,name\n,Ada\n") == [
        RowError(line=2, email="", reason="No email address in this row.")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \n\n", "empty"),
        ("name,phone\nAda,123\n", "“email” column"),
        ("email\nada@example.com\x00\n", "NUL"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        list(csvfiles.csv_rows_read(text=text))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "workbook"),
        ("email\nrené@exämple.com\n".encode("latin-1"), "not UTF-8"),
        ("email\nada@example.com\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_files_that_are_not_utf8_text_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        csvfiles.csv_text_decode(data=data)


def test_a_cell_too_big_for_the_csv_reader_fails_the_whole_file_with_its_line() -> None:
    text = "email\nada@example.com\n" + "x" * 200_000 + "@example.com\n"

    with pytest.raises(CsvFormatError, match=r"Line 3 .* longer than"):
        csvfiles.csv_rows_count(text=text)


# --- Importing -------------------------------------------------------------------------------


def test_valid_rows_become_active_subscriptions_with_the_consent_note_recorded(
    daily: MailingList, staff_user
) -> None:
    job = _import("email,name\nada@example.com,Ada\nbob@example.com,\n", daily, by=staff_user)

    assert job.state == ImportJob.State.DONE
    assert _counts(job) == {
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
    daily: MailingList, django_capture_on_commit_callbacks
) -> None:
    ada, bob = _unique("ada"), _unique("bob")

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        job = _import(f"email\n{ada}\n{bob}\n", daily, consent="")

    assert job.imported_count == 2
    assert set(Subscription.objects.values_list("state", flat=True)) == {State.PENDING}
    assert Subscription.objects.filter(confirmed_at__isnull=False).count() == 0
    event = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT).first()
    assert event is not None
    assert event.detail["consent"] is None
    assert event.detail["double_opt_in"] is True
    assert len(enqueued) == 2  # one confirmation per new address, sent after the commit


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

    job = _import(text, daily)

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
    job = _import(
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

    job = _import("email,name\nnamed@EXAMPLE.com,Replaced\nunnamed@example.com,Filled\n", daily)

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

    job = _import(f"email\n{active.subscriber.email}\n{pending.subscriber.email}\n", daily)

    assert (job.imported_count, job.merged_count) == (0, 2)
    active.refresh_from_db()
    pending.refresh_from_db()
    assert (active.state, pending.state) == (State.ACTIVE, State.PENDING)


def test_an_import_never_resubscribes_someone_who_unsubscribed(daily: MailingList) -> None:
    left = SubscriptionFactory.create(mailing_list=daily, state=State.UNSUBSCRIBED)

    job = _import(f"email\nnew@example.com\n{left.subscriber.email.upper()}\n", daily)

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

    job = _import(
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

    job = _import("\n".join(lines), daily)

    counts = _counts(job)
    assert counts == {
        "imported": 30,
        "merged": 1,
        "duplicate": 30,
        "skipped_unsubscribed": 1,
        "suppressed": 1,
        "invalid": 6,
    }
    assert sum(counts.values()) == job.total_rows == job.processed_rows == 69


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
    assert _counts(job) == {
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


# --- Exporting -------------------------------------------------------------------------------


def test_export_lists_each_subscriber_with_their_lists_and_defuses_formulas(
    daily: MailingList,
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    ada = SubscriberFactory.create(email="ada@example.com", name='=HYPERLINK("x")')
    SubscriptionFactory.create(subscriber=ada, mailing_list=weekly, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(subscriber=ada, mailing_list=daily, state=State.ACTIVE)
    SubscriberFactory.create(email="-dash@example.com", name="@Bob")

    text = "".join(csvfiles.subscribers_csv_export(queryset=Subscriber.objects.order_by("email")))

    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["email", "name", "created_at", "lists"]
    assert [row[:2] + row[3:] for row in rows[1:]] == [
        ["'-dash@example.com", "'@Bob", ""],
        ["ada@example.com", '\'=HYPERLINK("x")', "daily:active;weekly:unsubscribed"],
    ]


def test_an_export_imports_back_unchanged(daily: MailingList) -> None:
    SubscriberFactory.create(email="-dash@example.com", name="+Plus")
    exported = "".join(csvfiles.subscribers_csv_export(queryset=Subscriber.objects.all()))
    other = MailingListFactory.create(slug="other")

    job = _import(exported, other)

    assert (job.merged_count, job.imported_count, job.invalid_count) == (0, 1, 0)
    assert list(Subscriber.objects.values_list("email", "name")) == [("-dash@example.com", "+Plus")]


# --- Hostile input (hypothesis) --------------------------------------------------------------

# Cells a hostile or broken file might hold: addresses, near-addresses, formulas, control
# characters, quotes, separators and line breaks inside cells, very long values.
hostile_cells = st.one_of(
    st.emails(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "=cmd|' /C calc'!A0",
            "+1-555-0100",
            "@SUM(A1)",
            "-ada@example.com",
            "'=ada@example.com",
            "ada@example.com\r\nBcc: x@example.com",
            "ada@example.com\x00",
            'a"b@example.com',
            "a,b@example.com",
            "ada@exa mple.com",
            "ADA@EXAMPLE.COM",
            "ada@xn--bcher-kva.example",
            "ada@bücher.example",
            "\u200bada@example.com",
            " ada@example.com ",
        ]
    ),
    st.text(alphabet="ab@.\r\n\"',;\t\x00=+-", max_size=30),
    st.builds(lambda n: "a" * n + "@example.com", st.integers(min_value=60, max_value=400)),
)


def _is_storable(email: str) -> bool:
    try:
        return email_normalise(email) == email
    except ValidationError:
        return False


@given(st.binary(max_size=2000))
def test_any_bytes_either_decode_or_raise_the_documented_error(data: bytes) -> None:
    try:
        text = csvfiles.csv_text_decode(data=data)
    except CsvFormatError:
        return
    assert "\x00" not in text


@given(st.text(max_size=3000))
def test_any_text_reads_as_rows_or_raises_the_documented_error(text: str) -> None:
    try:
        rows = list(csvfiles.csv_rows_read(text=text))
    except CsvFormatError:
        return
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines))
    assert all(line >= 1 for line in lines)
    for row in rows:
        if isinstance(row, ParsedRow):
            assert _is_storable(row.email)
            assert "\n" not in row.name and "\r" not in row.name
            assert len(row.name) <= 100
        else:
            assert row.reason
            assert len(row.email) <= 254


@given(st.lists(st.tuples(hostile_cells, hostile_cells), min_size=1, max_size=15))
def test_written_csv_comes_back_row_by_row_with_only_valid_addresses(
    cells: list[tuple[str, str]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name"])
    writer.writerows(cells)

    if any("\x00" in email + name for email, name in cells):
        # The only refusal of a whole well-formed CSV: NUL means it is not a text file.
        with pytest.raises(CsvFormatError, match="NUL"):
            list(csvfiles.csv_rows_read(text=buffer.getvalue()))
        return

    rows = list(csvfiles.csv_rows_read(text=buffer.getvalue()))

    # Blank rows are skipped; every other row is accounted for, in order, with its line number.
    kept = [(email, name) for email, name in cells if email.strip() or name.strip()]
    assert len(rows) == len(kept)
    for row, (email, _name) in zip(rows, kept, strict=True):
        if isinstance(row, ParsedRow):
            assert _is_storable(row.email)
            assert row.email.lower() == email_normalise(csvfiles._formula_unguard(email)).lower()
        else:
            with pytest.raises(ValidationError):
                email_normalise(csvfiles._formula_unguard(email))


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
        job = _import(buffer.getvalue(), daily)
    except CsvFormatError:
        return

    assert job.state == ImportJob.State.DONE
    assert sum(_counts(job).values()) == job.total_rows
    for stored in Subscriber.objects.values_list("email", flat=True):
        assert _is_storable(stored)
