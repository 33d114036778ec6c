"""`manage.py import_subscribers FILE --list SLUG [--consented "how and when they agreed"]`.

The same import as the admin's, run here in-process instead of by a worker, for files too big to
upload or for scripts. The job is recorded like an uploaded one, so it shows in the admin too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.records import audit_record
from mailinglist import csvfiles, imports
from mailinglist.models import ImportJob, MailingList

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import subscribers from a CSV file (header with an 'email' column, optional 'name') "
        "into a mailing list. Without --consented each new subscriber gets a confirmation email."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the CSV file (UTF-8).")
        parser.add_argument("--list", required=True, dest="slug", help="Slug of the mailing list.")
        parser.add_argument(
            "--consented",
            metavar="NOTE",
            default="",
            help="These people already agreed to this list; NOTE says how and when. They are "
            "subscribed at once and NOTE is kept as the record of their consent.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mailing_list = MailingList.objects.filter(slug=options["slug"]).first()
        if mailing_list is None:
            known = ", ".join(MailingList.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No mailing list {options['slug']!r}. Lists: {known}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        note = options["consented"].strip()
        try:
            text = csvfiles.csv_text_decode(data=data)
            job = imports.import_job_create(
                mailing_list=mailing_list,
                text=text,
                file_name=path.name,
                is_consented=bool(note),
                consent_note=note,
            )
        except csvfiles.CsvFormatError as exc:
            raise CommandError(f"{path}: {exc}") from None
        imports.import_job_start(job_id=job.pk, enqueue=False)
        audit_record(action="import.start", target=job, via="command")
        done = imports.import_job_run(job_id=job.pk, on_progress=self._progress)
        self.stderr.write("")
        if done is None:  # cannot happen: the job was created and queued just above
            raise CommandError(f"Import {job.pk} was taken by another process.")
        self._summary(done)

    def _progress(self, job: ImportJob) -> None:
        total = max(job.total_rows, 1)
        filled = BAR_WIDTH * job.processed_rows // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        percent = 100 * job.processed_rows // total
        self.stderr.write(f"\r[{bar}] {percent}% {job.processed_rows}/{job.total_rows}", ending="")
        self.stderr.flush()

    def _summary(self, job: ImportJob) -> None:
        write = self.stdout.write
        write(f"Import {job.pk} of {job.file_name} into {job.mailing_list.slug}:")
        write(f"  rows in the file:             {job.total_rows}")
        write(f"  added to the list:            {job.imported_count}")
        write(f"  already on the list:          {job.merged_count}")
        write(f"  duplicates in the file:       {job.duplicate_count}")
        write(f"  unsubscribed earlier, skipped: {job.skipped_unsubscribed_count}")
        write(f"  refused, suppressed:          {job.suppressed_count}")
        write(f"  invalid rows:                 {job.invalid_count}")
        if not job.is_consented and job.imported_count:
            write("New subscribers are pending until they confirm from the email they get.")
        if job.errors:
            write("Rows not imported:")
            for row in job.errors:
                write(f"  line {row['line']}: {row['email']!r}: {row['reason']}")
            if len(job.errors) >= imports.MAX_REPORTED_ERRORS:
                write(f"  (only the first {imports.MAX_REPORTED_ERRORS} are listed)")
