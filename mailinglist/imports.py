"""Staff imports of subscribers from CSV: previewed, then run in chunks by a worker.

What an import does with each row is in `import_job_run`. The rules that must never bend: an
invalid address is never stored, a suppressed address (whatever the reason, erasure included) is
refused, and an unsubscribed reader is never subscribed again by an import.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from mailinglist import subscriptions
from mailinglist.addresses import MAX_EMAIL_LENGTH, email_hash
from mailinglist.csvfiles import (
    ParsedRow,
    RowError,
    csv_layout_read,
    csv_rows_count,
    csv_rows_read,
)
from mailinglist.models import (
    ConsentEvent,
    ImportJob,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)

# Big enough that 100,000 rows take 100 round trips, small enough to stay far below SQLite's
# limit on query parameters and to move the progress bar every second or so.
CHUNK_SIZE = 1000
# Counts are always exact; the per-line report stops here so that a file of garbage cannot turn
# the job row (and the page showing it) into megabytes.
MAX_REPORTED_ERRORS = 1000

Kind = ConsentEvent.Kind
State = Subscription.State
T = TypeVar("T")


def _chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- Importing -------------------------------------------------------------------------------


@dataclass
class _Tally:
    processed_rows: int = 0
    imported_count: int = 0
    merged_count: int = 0
    duplicate_count: int = 0
    invalid_count: int = 0
    suppressed_count: int = 0
    skipped_unsubscribed_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    _chunk_errors: list[dict[str, Any]] = field(default_factory=list)

    def report(self, *, line: int, email: str, reason: str) -> None:
        self._chunk_errors.append(
            {"line": line, "email": email[:MAX_EMAIL_LENGTH], "reason": reason}
        )

    def chunk_end(self) -> None:
        # A chunk finds its invalid, suppressed and unsubscribed rows in separate steps; the
        # report lists them in file order.
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(sorted(self._chunk_errors, key=lambda row: row["line"])[:room])
        self._chunk_errors.clear()

    def as_fields(self) -> dict[str, Any]:
        return {
            "processed_rows": self.processed_rows,
            "imported_count": self.imported_count,
            "merged_count": self.merged_count,
            "duplicate_count": self.duplicate_count,
            "invalid_count": self.invalid_count,
            "suppressed_count": self.suppressed_count,
            "skipped_unsubscribed_count": self.skipped_unsubscribed_count,
            "errors": self.errors,
        }


@dataclass
class _Pass:
    """One walk through a job's rows: the counts so far and the addresses already seen."""

    job: ImportJob
    write: bool
    by: str = ""
    tally: _Tally = field(default_factory=_Tally)
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
    """
    claimed = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.QUEUED).update(
        state=ImportJob.State.RUNNING, error="", **_Tally().as_fields()
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("mailing_list", "uploaded_by").get(pk=job_id)
    by = job.uploaded_by.get_username() if job.uploaded_by else "manage.py import_subscribers"
    walk = _Pass(job=job, write=True, by=by)
    try:
        for chunk in _chunked(csv_rows_read(text=job.content), CHUNK_SIZE):
            with transaction.atomic():
                _chunk_apply(walk=walk, chunk=chunk)
                ImportJob.objects.filter(pk=job.pk).update(**walk.tally.as_fields())
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
        state=ImportJob.State.DONE, finished_at=timezone.now(), content=""
    )
    job.refresh_from_db()
    return job


def _job_refresh(job: ImportJob, tally: _Tally) -> None:
    for name, value in tally.as_fields().items():
        setattr(job, name, value)


def _chunk_apply(*, walk: _Pass, chunk: list[ParsedRow | RowError]) -> None:
    """Classify (and, when writing, import) one chunk of rows with a handful of queries."""
    tally = walk.tally
    tally.processed_rows += len(chunk)
    candidates: list[ParsedRow] = []
    for row in chunk:
        if isinstance(row, RowError):
            tally.invalid_count += 1
            tally.report(line=row.line, email=row.email, reason=row.reason)
            continue
        key = row.email.lower()
        if key in walk.seen:
            tally.duplicate_count += 1  # the first row with this address wins
            continue
        walk.seen.add(key)
        candidates.append(row)

    hashes = {row.email: email_hash(row.email) for row in candidates}
    suppressed = dict(
        Suppression.objects.filter(email_hash__in=set(hashes.values())).values_list(
            "email_hash", "reason"
        )
    )
    admissible: list[ParsedRow] = []
    for row in candidates:
        reason = suppressed.get(hashes[row.email])
        if reason is None:
            admissible.append(row)
            continue
        tally.suppressed_count += 1
        label = dict(Suppression.Reason.choices).get(reason, reason)
        tally.report(line=row.line, email=row.email, reason=f"On the suppression list ({label}).")

    mailing_list = walk.job.mailing_list
    subscribers = _subscribers_by_key([row.email.lower() for row in admissible])
    if walk.write:
        subscribers.update(_subscribers_create(admissible, known=subscribers))
    states = dict(
        Subscription.objects.filter(
            mailing_list=mailing_list, subscriber_id__in=[s.pk for s in subscribers.values()]
        ).values_list("subscriber_id", "state")
    )
    joining: list[Subscriber] = []
    names: dict[int, str] = {}
    for row in admissible:
        subscriber = subscribers.get(row.email.lower())
        state = states.get(subscriber.pk) if subscriber is not None else None
        if state == State.UNSUBSCRIBED:
            tally.skipped_unsubscribed_count += 1
            tally.report(
                line=row.line,
                email=row.email,
                reason="Unsubscribed from this list earlier; an import never subscribes "
                "them again.",
            )
            continue
        if state is None:
            tally.imported_count += 1
            if subscriber is not None:
                joining.append(subscriber)
        else:
            tally.merged_count += 1
        if subscriber is not None and row.name and not subscriber.name:
            names[subscriber.pk] = row.name
    tally.chunk_end()
    if walk.write:
        _names_fill(names)
        _subscriptions_add(walk=walk, subscribers=joining)


def _subscribers_by_key(keys: list[str]) -> dict[str, Subscriber]:
    if not keys:
        return {}
    found = Subscriber.objects.annotate(key=Lower("email")).filter(key__in=keys)
    return {subscriber.email.lower(): subscriber for subscriber in found}


def _subscribers_create(
    rows: list[ParsedRow], *, known: dict[str, Subscriber]
) -> dict[str, Subscriber]:
    missing = [row for row in rows if row.email.lower() not in known]
    if not missing:
        return {}
    # ignore_conflicts: a reader signing up at this moment may have created the same address;
    # the re-read below returns whichever row won.
    Subscriber.objects.bulk_create(
        [Subscriber(email=row.email, name=row.name) for row in missing], ignore_conflicts=True
    )
    return _subscribers_by_key([row.email.lower() for row in missing])


def _names_fill(names: dict[int, str]) -> None:
    if not names:
        return
    # name="" in the WHERE clause: a name the reader set meanwhile is theirs to keep.
    Subscriber.objects.filter(pk__in=names.keys(), name="").update(
        name=Case(*(When(pk=pk, then=Value(name)) for pk, name in names.items()), default=F("name"))
    )


def _subscriptions_add(*, walk: _Pass, subscribers: list[Subscriber]) -> None:
    if not subscribers:
        return
    job = walk.job
    mailing_list = job.mailing_list
    now = timezone.now()
    Subscription.objects.bulk_create(
        [
            Subscription(
                subscriber=subscriber,
                mailing_list=mailing_list,
                state=State.ACTIVE if job.is_consented else State.PENDING,
                source=Subscription.Source.IMPORT,
                requested_at=now,
                confirmed_at=now if job.is_consented else None,
            )
            for subscriber in subscribers
        ],
        # A signup racing the import keeps its own subscription rather than failing the chunk.
        ignore_conflicts=True,
    )
    detail: dict[str, Any] = (
        {"consent": job.consent_note, "job": job.pk, "by": walk.by}
        if job.is_consented
        else {"consent": None, "double_opt_in": True, "job": job.pk, "by": walk.by}
    )
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                subscriber=subscriber, kind=Kind.IMPORT, lists=[mailing_list.slug], detail=detail
            )
            for subscriber in subscribers
        ]
    )
    if not job.is_consented:
        # No proof these people asked for mail: each gets the same double opt-in as a signup,
        # under the same one-per-address-per-day limit, sent once the chunk commits.
        for subscriber in subscribers:
            subscriptions.confirmation_send_limited(
                subscriber=subscriber, lists=[mailing_list], queue="bulk"
            )
