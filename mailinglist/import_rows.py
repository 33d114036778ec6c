"""What an import does with each row of a chunk, decided before anything is written.

A chunk is classified in one pass with three indexed queries (suppressions, subscribers, their
subscriptions to the list), whatever its size: invalid, a duplicate of an earlier row, suppressed,
unsubscribed earlier, already on the list, or to be added. The preview stops there; the import
then writes the plan with import_writes. The counters and the per-line report live in `Tally`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailinglist.addresses import MAX_EMAIL_LENGTH, email_hash
from mailinglist.csvfiles import ParsedRow, RowError
from mailinglist.import_writes import (
    Known,
    subscribers_by_key,
    subscription_states,
    suppressions_by_hash,
)
from mailinglist.models import Subscription, Suppression

# Counts are always exact; the per-line report stops here so that a file of garbage cannot turn
# the job row (and the page showing it) into megabytes.
MAX_REPORTED_ERRORS = 1000
UNSUBSCRIBED_REASON = "Unsubscribed from this list earlier; an import never subscribes them again."

State = Subscription.State


@dataclass
class Tally:
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
class ChunkPlan:
    """What writing a chunk means: addresses to create, subscribers to add, names to fill."""

    # (address, its email_hash, name) of addresses the database does not have.
    new_rows: list[tuple[str, str, str]] = field(default_factory=list)
    # (pk, address) of subscribers the database has who are not on the list yet.
    joining: list[tuple[int, str]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def _admissible(
    rows: list[ParsedRow | RowError], *, tally: Tally, seen: set[str]
) -> list[tuple[ParsedRow, str]]:
    """The rows left, with their email_hash, once invalid ones, duplicates and suppressed
    addresses are counted out."""
    candidates: list[ParsedRow] = []
    for row in rows:
        if isinstance(row, RowError):
            tally.invalid_count += 1
            tally.report(line=row.line, email=row.email, reason=row.reason)
            continue
        key = row.email.lower()
        if key in seen:
            tally.duplicate_count += 1  # the first row with this address wins
            continue
        seen.add(key)
        candidates.append(row)
    hashes = [email_hash(row.email) for row in candidates]
    suppressed = suppressions_by_hash(hashes)
    if not suppressed:
        return list(zip(candidates, hashes, strict=True))
    labels = dict(Suppression.Reason.choices)
    admissible: list[tuple[ParsedRow, str]] = []
    for row, digest in zip(candidates, hashes, strict=True):
        reason = suppressed.get(digest)
        if reason is None:
            admissible.append((row, digest))
            continue
        tally.suppressed_count += 1
        label = labels.get(reason, reason)
        tally.report(line=row.line, email=row.email, reason=f"On the suppression list ({label}).")
    return admissible


def chunk_classify(
    *, rows: list[ParsedRow | RowError], tally: Tally, seen: set[str], mailing_list_id: int
) -> ChunkPlan:
    """Count every row of the chunk in `tally` and say what importing it writes.

    `seen` holds the addresses (lower-cased) of earlier chunks, so a duplicate is found across
    the whole file; this chunk's are added to it.
    """
    tally.processed_rows += len(rows)
    admissible = _admissible(rows, tally=tally, seen=seen)
    known: dict[str, Known] = subscribers_by_key(row.email.lower() for row, _ in admissible)
    states = subscription_states(
        subscriber_ids=[subscriber.pk for subscriber in known.values()],
        mailing_list_id=mailing_list_id,
    )
    plan = ChunkPlan()
    for row, digest in admissible:
        subscriber = known.get(row.email.lower())
        if subscriber is None:
            tally.imported_count += 1
            plan.new_rows.append((row.email, digest, row.name))
            continue
        state = states.get(subscriber.pk)
        if state == State.UNSUBSCRIBED:
            tally.skipped_unsubscribed_count += 1
            tally.report(line=row.line, email=row.email, reason=UNSUBSCRIBED_REASON)
            continue
        if state is None:
            tally.imported_count += 1
            plan.joining.append((subscriber.pk, row.email))
        else:
            tally.merged_count += 1
        if row.name and not subscriber.name:
            plan.names[subscriber.pk] = row.name
    tally.chunk_end()
    return plan
