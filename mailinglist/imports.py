"""Staff imports of subscribers from CSV: previewed, then run in chunks by a worker.

What an import does with each row is decided by import_rows (one pass over a chunk, a handful
of indexed queries) and written by import_writes (one set-based statement per table). The rules
that must never bend: an invalid address is never stored, a suppressed address (whatever the
reason, erasure included) is refused, and an unsubscribed reader is never subscribed again by an
import.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from mailinglist import import_writes
from mailinglist.confirmation_batches import confirmations_enqueue
from mailinglist.csvfiles import (
    ParsedRow,
    RowError,
    csv_layout_read,
    csv_rows_count,
    csv_rows_read,
)
from mailinglist.import_rows import MAX_REPORTED_ERRORS, ChunkPlan, Tally, chunk_classify
from mailinglist.models import ImportJob, MailingList, Subscription

__all__ = [
    "CHUNK_SIZE",
    "MAX_REPORTED_ERRORS",
    "import_job_create",
    "import_job_preview",
    "import_job_run",
    "import_job_start",
]

# A chunk is one transaction and one move of the progress bar: 100,000 rows take 50 of them,
# each a few hundred milliseconds of work, and SQLite's limit on query parameters (32,766)
# stays far above a chunk's IN lists.
CHUNK_SIZE = 2000

State = Subscription.State
T = TypeVar("T")


def _chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- Importing -------------------------------------------------------------------------------


@dataclass
class _Pass:
    """One walk through a job's rows: the counts so far and the addresses already seen."""

    job: ImportJob
    write: bool
    by: str = ""
    tally: Tally = field(default_factory=Tally)
    seen: set[str] = field(default_factory=set)


def import_job_create(
    *,
    mailing_list: MailingList,
    text: str,
    file_name: str,
    is_consented: bool,
    consent_note: str,
    uploaded_by: User | None = None,
) -> ImportJob:
    """A job holding `text`, not started; raises CsvFormatError if the file cannot be read.

    The whole file is read once here, so a malformed line fails the upload rather than a
    half-done import.
    """
    consent_note = consent_note.strip()
    if is_consented and not consent_note:
        raise ValueError("An import of people who already consented needs a note saying how.")
    layout = csv_layout_read(text=text)
    return ImportJob.objects.create(
        mailing_list=mailing_list,
        uploaded_by=uploaded_by,
        file_name=file_name[:255],
        content=text,
        is_consented=is_consented,
        consent_note=consent_note if is_consented else "",
        total_rows=csv_rows_count(text=text, layout=layout),
    )


def import_job_preview(*, job: ImportJob) -> None:
    """Count what importing `job` would do, writing nothing but those counts on the job."""
    walk = _Pass(job=job, write=False)
    for chunk in _chunked(csv_rows_read(text=job.content), CHUNK_SIZE):
        _chunk_apply(walk=walk, chunk=chunk)
    # processed_rows stays 0: it is the progress of the import itself, which has not begun.
    forecast = {**walk.tally.as_fields(), "processed_rows": 0}
    ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.PREVIEWED).update(**forecast)
    job.refresh_from_db()


def import_job_start(*, job_id: int, enqueue: bool = True) -> bool:
    """Queue a previewed job, once: a second click (or tab) finds nothing to start.

    With `enqueue` a worker runs it after this commits; without, the caller runs it itself.
    """
    started = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.PREVIEWED).update(
        state=ImportJob.State.QUEUED
    )
    if started and enqueue:
        from mailinglist.tasks import import_subscribers

        transaction.on_commit(lambda: import_subscribers.delay(job_id))
    return bool(started)


def import_job_run(
    *, job_id: int, on_progress: Callable[[ImportJob], None] | None = None
) -> ImportJob | None:
    """Import a queued job's rows chunk by chunk; None if the job was not queued (already taken).

    Each chunk commits with the job's counters, so the progress shown is what is in the database.
    A failure marks the job failed, keeps the chunks already committed, and is re-raised.
    The file leaves the job row as the run claims it (nothing runs a job twice): each progress
    update would otherwise write the whole file again, as SQLite rewrites a row whole (#12).

    On PostgreSQL a consented import's chunks commit without waiting for the WAL flush (#16):
    nothing outside the database acts on them. What a crash of the server then costs: the chunks
    of its last ~0.6 s (three wal_writer_delay) are undone, each together with the progress it
    wrote, since a chunk and its counters are one transaction and WAL keeps commit order; the
    job row, left "running" by a run that lost its server (as before), counts exactly the rows
    that are in the database. The file is no longer on the job, so it is not resumed: importing
    the same file again adds what is missing and counts the rest as already on the list. The
    job's end ("done") commits synchronously and so makes every chunk before it durable. An
    import that mails confirmations keeps synchronous commits: each chunk's mail is published
    once it commits, and must never name a subscriber the server could still lose.
    """
    job = ImportJob.objects.select_related("mailing_list", "uploaded_by").filter(pk=job_id).first()
    if job is None:
        return None
    text = job.content
    claimed = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.QUEUED).update(
        state=ImportJob.State.RUNNING, error="", content="", **Tally().as_fields()
    )
    if not claimed:
        return None
    job.content = ""
    by = job.uploaded_by.get_username() if job.uploaded_by else "manage.py import_subscribers"
    walk = _Pass(job=job, write=True, by=by)
    try:
        for chunk in _chunked(csv_rows_read(text=text), CHUNK_SIZE):
            with transaction.atomic():
                if job.is_consented:
                    import_writes.commit_unflushed()
                reported = len(walk.tally.errors)
                _chunk_apply(walk=walk, chunk=chunk)
                progress = walk.tally.as_fields()
                if len(walk.tally.errors) == reported:
                    # The report (up to 1,000 rows of JSON) is rewritten only when it grew.
                    del progress["errors"]
                ImportJob.objects.filter(pk=job.pk).update(**progress)
            if on_progress is not None:
                _job_refresh(job, walk.tally)
                on_progress(job)
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            state=ImportJob.State.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}"[:5000],
        )
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.DONE, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _job_refresh(job: ImportJob, tally: Tally) -> None:
    for name, value in tally.as_fields().items():
        setattr(job, name, value)


def _chunk_apply(*, walk: _Pass, chunk: list[ParsedRow | RowError]) -> None:
    """Classify (and, when writing, import) one chunk of rows with a handful of statements."""
    plan = chunk_classify(
        rows=chunk, tally=walk.tally, seen=walk.seen, mailing_list_id=walk.job.mailing_list_id
    )
    if walk.write:
        _plan_write(walk=walk, plan=plan)


def _plan_write(*, walk: _Pass, plan: ChunkPlan) -> None:
    job = walk.job
    mailing_list = job.mailing_list
    now = timezone.now()
    created = import_writes.subscribers_insert(rows=plan.new_rows, now=now)
    stored = [
        (created[key], email) for email, _, _ in plan.new_rows if (key := email.lower()) in created
    ]
    joining = plan.joining + [(subscriber.pk, email) for subscriber, email in stored]
    import_writes.names_fill(plan.names)
    if not joining:
        return
    # Subscribers this chunk made cannot have a subscription yet; the others may have one by now.
    new_ids = [subscriber.pk for subscriber, _ in stored if subscriber.new]
    old_ids = [pk for pk, _ in plan.joining] + [s.pk for s, _ in stored if not s.new]
    for subscriber_ids, new in ((new_ids, True), (old_ids, False)):
        if subscriber_ids:
            import_writes.subscriptions_insert(
                subscriber_ids=subscriber_ids,
                mailing_list_id=mailing_list.pk,
                state=State.ACTIVE if job.is_consented else State.PENDING,
                now=now,
                confirmed=job.is_consented,
                new=new,
            )
    subscriber_ids = [pk for pk, _ in joining]
    detail: dict[str, Any] = (
        {"consent": job.consent_note, "job": job.pk, "by": walk.by}
        if job.is_consented
        else {"consent": None, "double_opt_in": True, "job": job.pk, "by": walk.by}
    )
    import_writes.consent_events_insert(
        subscriber_ids=subscriber_ids, lists=[mailing_list.slug], detail=detail, now=now
    )
    if not job.is_consented:
        # No proof these people asked for mail: each gets the same double opt-in as a signup,
        # under the same one-per-address-per-day limit, sent once the chunk commits.
        confirmations_enqueue(recipients=joining, list_ids=[mailing_list.pk])
