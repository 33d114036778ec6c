"""Shared by the CSV import tests: an in-process import run, its counts, hostile cells."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from hypothesis import strategies as st

from mailinglist import imports
from mailinglist.addresses import email_normalise
from mailinglist.models import ImportJob, MailingList

NOTE = "Ticked 'send me the newsletter' on the 2024 reader survey"


def import_file(
    text: str, mailing_list: MailingList, *, consent: str = NOTE, by: User | None = None
) -> ImportJob:
    """Create, start and run an import job in this process; the finished job."""
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


def job_counts(job: ImportJob) -> dict[str, int]:
    return {
        "imported": job.imported_count,
        "merged": job.merged_count,
        "duplicate": job.duplicate_count,
        "skipped_unsubscribed": job.skipped_unsubscribed_count,
        "suppressed": job.suppressed_count,
        "invalid": job.invalid_count,
    }


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


def is_storable(email: str) -> bool:
    """Whether an address is exactly what the database may hold: valid and already normalised."""
    try:
        return email_normalise(email) == email
    except ValidationError:
        return False
