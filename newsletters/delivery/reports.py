"""What became of a digest: counts and rates, failures by reason, possible duplicates, the
readers it lost, and its ledger as CSV rows.

Where each figure comes from:

- sent, failed, skipped, pending: the ledger's states (progress.digest_counts), or the counts
  retention kept on the digest once its rows were deleted;
- bounced (hard bounces): failed rows whose address is now on the suppression list as bounced
  (the product suppresses exactly on a hard bounce: a 550/551/553 at RCPT, or an ESP's bounce
  that is not a temporary 4.x.x);
- complained: sent rows an ESP's complaint event noted (tracking.py writes the note; the
  partial index `delivery_noted` finds them without reading the rest of the ledger);
- unsubscribed: consent records of kind unsubscribe that name the digest — the unsubscribe page
  and the RFC 8058 one-click POST reached from the digest's own links (which carry
  `?digest=<id>`, see mailinglist/links.py) and ESP unsubscribe events. Consent records outlive
  the ledger, so this one is known for retained digests too;
- possible duplicates: rows whose claim expired under a dead worker (`expired_claims`).

Rates are against the mailbox providers' limits (Gmail's and Yahoo's bulk sender rules):
complaints under 0.3 % of messages delivered, hard bounces under 2 % of messages attempted.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.db.models.fields.json import KT

from mailinglist.models import ConsentEvent, Suppression
from newsletters.delivery.progress import digest_counts
from newsletters.models import Delivery, Digest

Row = Delivery.State

COMPLAINT_RATE_LIMIT = 0.003  # 0.3 % of messages delivered
HARD_BOUNCE_RATE_LIMIT = 0.02  # 2 % of messages attempted
# How tracking.py notes an ESP's complaint on a sent row (see _complained there); a test drives a
# real complaint webhook through tracking and counts it here, so the two cannot drift apart.
COMPLAINT_NOTE_PREFIX = "Reported as spam"
# Readers listed on a report page (the counts are always whole).
READERS_SHOWN = 200
FAILURE_REASONS_SHOWN = 25
LOOKUP_CHUNK = 1000  # values in one IN (...): well under SQLite's limit on parameters

# --- Figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A share of messages beside the limit mailbox providers hold senders to."""

    value: float | None  # None: nothing to divide by, or the figure is not known
    limit: float

    @property
    def is_over(self) -> bool:
        return self.value is not None and self.value >= self.limit

    @property
    def percent(self) -> str:
        return "—" if self.value is None else f"{self.value * 100:.2f} %"

    @property
    def limit_percent(self) -> str:
        return f"{self.limit * 100:g} %"


@dataclass(frozen=True)
class DigestFigures:
    """One digest's outcome. A figure that is None is not known (kept before it was counted)."""

    digest_id: int
    total: int
    sent: int
    failed: int
    skipped: int
    pending: int  # pending + being sent
    bounced: int | None
    complained: int | None
    unsubscribed: int | None
    possible_duplicates: int | None
    is_retained: bool  # the ledger was reduced to counts: no per-reader rows remain

    @property
    def attempted(self) -> int:
        return self.sent + self.failed

    @property
    def complaint_rate(self) -> Rate:
        return Rate(_share(self.complained, self.sent), COMPLAINT_RATE_LIMIT)

    @property
    def bounce_rate(self) -> Rate:
        return Rate(_share(self.bounced, self.attempted), HARD_BOUNCE_RATE_LIMIT)

    @property
    def unsubscribe_rate(self) -> float | None:
        return _share(self.unsubscribed, self.sent)

    @property
    def unsubscribe_percent(self) -> str:
        rate = self.unsubscribe_rate
        return "—" if rate is None else f"{rate * 100:.2f} %"

    @property
    def is_over_a_limit(self) -> bool:
        return self.complaint_rate.is_over or self.bounce_rate.is_over


def _share(part: int | None, whole: int) -> float | None:
    if part is None or whole <= 0:
        return None
    return part / whole


def digests_figures(
    *, digests: Iterable[Digest], totals: dict[int, int] | None = None
) -> dict[int, DigestFigures]:
    """The figures of several digests, by id, counted now in a few queries for all of them.

    From the ledger, or from what retention kept once the ledger is gone. `totals` may give
    ledger sizes already known (see ledger_counts).
    """
    digests = list(digests)
    live = [d for d in digests if not d.retained_counts]
    live_ids = [d.pk for d in live]
    known = ledger_counts(digest_ids=live_ids, totals=totals or {})
    bounced = _bounced(live_ids)
    complained = _complained(live_ids)
    duplicates = _possible_duplicates(live_ids)
    unsubscribed = _unsubscribed(digests)
    figures: dict[int, DigestFigures] = {}
    for digest in digests:
        kept = digest.retained_counts or None
        state_counts = _kept_counts(kept) if kept else known[digest.pk]
        figures[digest.pk] = DigestFigures(
            digest_id=digest.pk,
            total=state_counts["total"],
            sent=state_counts[Row.SENT],
            failed=state_counts[Row.FAILED],
            skipped=state_counts[Row.SKIPPED],
            pending=state_counts[Row.PENDING] + state_counts[Row.SENDING],
            bounced=_kept(kept, "bounced") if kept else bounced.get(digest.pk, 0),
            complained=_kept(kept, "complained") if kept else complained.get(digest.pk, 0),
            unsubscribed=unsubscribed.get(digest.pk, 0) if digest.snapshot_at else 0,
            possible_duplicates=(
                _kept(kept, "possible_duplicates") if kept else duplicates.get(digest.pk, 0)
            ),
            is_retained=bool(kept),
        )
    return figures


# States a finished digest has few rows in; everything else in its ledger was sent.
_NOT_SENT = [Row.PENDING, Row.SENDING, Row.FAILED, Row.SKIPPED]


def ledger_counts(*, digest_ids: list[int], totals: dict[int, int]) -> dict[int, dict[str, int]]:
    """Rows per state and their total, per digest.

    A digest whose ledger size is in `totals` has only its rows not sent counted — few, through
    the (digest, state) index — and `sent` is what remains: a million rows are not read again
    to count the sent ones. The size changes only when an erased reader's row is deleted.
    """
    counts = {pk: digest_counts(digest_id=pk) for pk in digest_ids if pk not in totals}
    known = [pk for pk in digest_ids if pk in totals]
    if known:
        found: dict[int, dict[str, int]] = defaultdict(dict)
        rows = (
            Delivery.objects.filter(digest_id__in=known, state__in=_NOT_SENT)
            .values_list("digest_id", "state")
            .annotate(n=Count("*"))
            .values_list("digest_id", "state", "n")
        )
        for digest_id, state, n in rows:
            found[digest_id][state] = n
        for pk in known:
            state_counts: dict[str, int] = {str(s): found[pk].get(s, 0) for s in _NOT_SENT}
            state_counts[Row.SENT] = max(0, totals[pk] - sum(state_counts.values()))
            state_counts["total"] = totals[pk]
            counts[pk] = state_counts
    return counts


def digest_figures(*, digest: Digest) -> DigestFigures:
    """One digest's figures, counted now."""
    return digests_figures(digests=[digest])[digest.pk]


def digest_ledger_outcomes(*, digest_id: int) -> dict[str, int]:
    """The figures only the ledger knows (hard bounces, complaints), for retention to keep.

    Retention deletes a finished digest's rows; keeping these beside its state counts keeps its
    rates on the dashboard and its report.
    """
    return {
        "bounced": _bounced([digest_id]).get(digest_id, 0),
        "complained": _complained([digest_id]).get(digest_id, 0),
    }


def _kept_counts(kept: dict[str, Any]) -> dict[str, int]:
    return {state: int(kept.get(state, 0) or 0) for state in [*Row.values, "total"]}


def _kept(kept: dict[str, Any], key: str) -> int | None:
    value = kept.get(key)
    return int(value) if isinstance(value, int | float) else None


def _by_digest(rows: Iterable[tuple[Any, int]]) -> dict[int, int]:
    return {int(digest_id): int(n) for digest_id, n in rows if digest_id is not None}


def _bounced(digest_ids: list[int]) -> dict[int, int]:
    """Failed rows whose address is suppressed as a hard bounce, per digest.

    Two look-ups driven from the failed rows (few) rather than one join: given the join,
    PostgreSQL's planner reads every subscriber to hash them against the suppression list
    (0.3 s at a million), where the failed rows' own index finds the same in milliseconds.
    """
    if not digest_ids:
        return {}
    failed = list(
        Delivery.objects.filter(digest_id__in=digest_ids, state=Row.FAILED).values_list(
            "digest_id", "subscriber__email_hash"
        )
    )
    hashes = sorted({email_hash for _, email_hash in failed})
    bounced: set[str] = set()
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        bounced.update(
            Suppression.objects.filter(
                reason=Suppression.Reason.BOUNCED,
                email_hash__in=hashes[start : start + LOOKUP_CHUNK],
            ).values_list("email_hash", flat=True)
        )
    return dict(Counter(digest_id for digest_id, email_hash in failed if email_hash in bounced))


def _noted(digest_ids: list[int]) -> Any:
    # Exactly the partial index's condition, so the database can use it.
    return Delivery.objects.filter(digest_id__in=digest_ids, state=Row.SENT).exclude(last_error="")


def _complained(digest_ids: list[int]) -> dict[int, int]:
    if not digest_ids:
        return {}
    rows = (
        _noted(digest_ids)
        .filter(last_error__startswith=COMPLAINT_NOTE_PREFIX)
        .values("digest_id")
        .annotate(n=Count("*"))
        .values_list("digest_id", "n")
    )
    return _by_digest(rows)


def _possible_duplicates(digest_ids: list[int]) -> dict[int, int]:
    if not digest_ids:
        return {}
    rows = (
        Delivery.objects.filter(digest_id__in=digest_ids, expired_claims__gt=0)
        .values("digest_id")
        .annotate(n=Count("*"))
        .values_list("digest_id", "n")
    )
    return _by_digest(rows)


def _unsubscribes_of(digests: list[Digest]) -> Any:
    """Unsubscribe records naming one of `digests`, no older than the oldest one's first send.

    The time bound lets the (kind, at) index skip the years of records before it.
    """
    started = [d.snapshot_at for d in digests if d.snapshot_at is not None]
    if not started:
        return ConsentEvent.objects.none()
    ids = [d.pk for d in digests if d.snapshot_at is not None]
    return ConsentEvent.objects.filter(
        kind=ConsentEvent.Kind.UNSUBSCRIBE, at__gte=min(started), detail__digest__in=ids
    )


def _unsubscribed(digests: list[Digest]) -> dict[int, int]:
    rows = (
        _unsubscribes_of(digests)
        .order_by()  # the model's ordering would otherwise join the GROUP BY
        .annotate(digest_ref=KT("detail__digest"))
        .values("digest_ref")
        .annotate(n=Count("*"))
        .values_list("digest_ref", "n")
    )
    return _by_digest(rows)


# --- The report page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureReason:
    reason: str  # the server's or ESP's answer, addresses and numbers masked
    count: int


@dataclass(frozen=True)
class ReaderLine:
    subscriber_id: int | None
    email: str
    at: datetime | None
    how: str


@dataclass(frozen=True)
class DigestReport:
    digest: Digest
    figures: DigestFigures
    failure_reasons: list[FailureReason]
    skip_reasons: list[FailureReason]
    duplicates: list[ReaderLine]
    unsubscribed: list[ReaderLine]
    complained: list[ReaderLine]


_ADDRESS = re.compile(r"<?[^\s<>()\[\]\"';,:]+@[^\s<>()\[\]\"';,:]+>?")
_NUMBERISH = re.compile(r"\b(?=[0-9a-fA-F-]*\d)[0-9a-fA-F-]{8,}\b|\b\d{4,}\b")


def failure_reason(error: str) -> str:
    """The reason a message failed, with what differs per message masked, to group by.

    The same refusal from one server differs only in the address and in queue ids; masking them
    groups "550 5.1.1 <ann@x>: user unknown" with "550 5.1.1 <bob@x>: user unknown".
    """
    text = _ADDRESS.sub("<address>", error)
    text = _NUMBERISH.sub("#", text)
    text = " ".join(text.split())
    return (text[:157] + "…") if len(text) > 160 else (text or "no reason recorded")


def _reasons(errors: Iterable[str], *, limit: int) -> list[FailureReason]:
    counted = Counter(failure_reason(error) for error in errors)
    top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]
    rest = sum(counted.values()) - sum(n for _, n in top)
    reasons = [FailureReason(reason, n) for reason, n in top]
    if rest:
        reasons.append(FailureReason("other reasons", rest))
    return reasons


def digest_failure_reasons(*, digest_id: int, state: str = Row.FAILED) -> list[FailureReason]:
    """Failed (or skipped) rows grouped by reason, most frequent first."""
    errors = (
        Delivery.objects.filter(digest_id=digest_id, state=state)
        .values_list("last_error", flat=True)
        .iterator(chunk_size=5000)
    )
    return _reasons(errors, limit=FAILURE_REASONS_SHOWN)


def _reader_lines(rows: Iterable[tuple[Any, ...]], how: str) -> list[ReaderLine]:
    return [
        ReaderLine(subscriber_id=pk, email=email or "", at=at, how=how) for pk, email, at in rows
    ]


def digest_report(*, digest: Digest) -> DigestReport:
    """Everything the report page shows, counted now (the lists capped at READERS_SHOWN)."""
    figures = digest_figures(digest=digest)
    ledger = Delivery.objects.filter(digest_id=digest.pk)
    duplicates = _reader_lines(
        ledger.filter(expired_claims__gt=0)
        .order_by("subscriber_id")
        .values_list("subscriber_id", "subscriber__email", "sent_at")[:READERS_SHOWN],
        "may have had it twice",
    )
    complained = _reader_lines(
        _noted([digest.pk])
        .filter(last_error__startswith=COMPLAINT_NOTE_PREFIX)
        .order_by("subscriber_id")
        .values_list("subscriber_id", "subscriber__email", "sent_at")[:READERS_SHOWN],
        "reported it as spam",
    )
    unsubscribed = [
        ReaderLine(
            subscriber_id=event.subscriber_id,
            email=event.subscriber.email if event.subscriber else "",
            at=event.at,
            how=_how(event.detail),
        )
        for event in _unsubscribes_of([digest])
        .select_related("subscriber")
        .order_by("-at", "-id")[:READERS_SHOWN]
    ]
    return DigestReport(
        digest=digest,
        figures=figures,
        failure_reasons=digest_failure_reasons(digest_id=digest.pk),
        skip_reasons=digest_failure_reasons(digest_id=digest.pk, state=Row.SKIPPED),
        duplicates=duplicates,
        unsubscribed=unsubscribed,
        complained=complained,
    )


def _how(detail: Any) -> str:
    method = str(detail.get("method", "")) if isinstance(detail, dict) else ""
    return {
        "page": "the unsubscribe link",
        "one-click": "one click in their mail app",
    }.get(method, method or "—")


# --- The ledger as CSV ---------------------------------------------------------------------------

LEDGER_COLUMNS = [
    "email",
    "state",
    "attempts",
    "sent_at",
    "message_id",
    "last_error",
    "possible_duplicate",
    "next_attempt_at",
]


def digest_ledger_rows(*, digest_id: int, chunk_size: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per ledger row, read a chunk at a time (for streaming).

    In the order of the (digest, subscriber) unique index, so the database walks the index
    rather than sorting a million rows. Nothing after retention: the rows are gone.
    """
    yield list(LEDGER_COLUMNS)
    rows = (
        Delivery.objects.filter(digest_id=digest_id)
        .order_by("subscriber_id")
        .values_list(
            "subscriber__email",
            "state",
            "attempts",
            "sent_at",
            "message_id",
            "last_error",
            "expired_claims",
            "next_attempt_at",
        )
    )
    for email, state, attempts, sent_at, message_id, error, expired, next_at in rows.iterator(
        chunk_size=chunk_size
    ):
        yield [
            email or "",
            state,
            str(attempts),
            _iso(sent_at),
            message_id,
            error,
            "yes" if expired else "",
            _iso(next_at),
        ]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
