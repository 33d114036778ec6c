"""What became of digests, in figures: counts and rates against the mailbox providers' limits,
for the dashboard's last digests and each digest's report (reports.py).

Where each figure comes from:

- sent, failed, skipped, pending: the ledger's states (progress.digest_counts), or the counts
  retention kept on the digest once its rows were deleted;
- bounced (hard bounces): failed rows whose address is now on the suppression list as bounced
  (the product suppresses exactly on a hard bounce: a 550/551/553 at RCPT, an ESP's bounce
  that is not a temporary 4.x.x, or a bounce mail — newsletters/inbound/, where soft bounces
  past BOUNCE_SOFT_LIMIT count too);
- complained: sent rows a complaint noted, an ESP's event or a feedback loop's report by mail
  (reader_feedback.py writes the note for tracking.py and newsletters/inbound/; the
  partial index `delivery_noted` finds them without reading the rest of the ledger);
- unsubscribed: consent records of kind unsubscribe that name the digest — the unsubscribe page
  and the RFC 8058 one-click POST reached from the digest's own links (which carry
  `?digest=<id>`, see mailinglist/links.py), ESP unsubscribe events and mail to the
  List-Unsubscribe mailto: address. Consent records outlive
  the ledger, so this one is known for retained digests too;
- possible duplicates: rows whose claim expired under a dead worker (`expired_claims`).

Rates are against the mailbox providers' limits (Gmail's and Yahoo's bulk sender rules):
complaints under 0.3 % of messages delivered, hard bounces under 2 % of messages attempted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.db.models.fields.json import KT

from mailinglist.models import ConsentEvent, Suppression
from newsletters.delivery.progress import digest_counts
from newsletters.models import Delivery, Digest

Row = Delivery.State

COMPLAINT_RATE_LIMIT = 0.003  # 0.3 % of messages delivered
HARD_BOUNCE_RATE_LIMIT = 0.02  # 2 % of messages attempted
# How reader_feedback.py notes a complaint on a sent row (reader_complaint_apply); a test drives a
# real complaint webhook through tracking and counts it here, so the two cannot drift apart.
COMPLAINT_NOTE_PREFIX = "Reported as spam"
LOOKUP_CHUNK = 1000  # values in one IN (...): well under SQLite's limit on parameters


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


def delivery_complaints(*, digest_ids: list[int]) -> Any:
    """Sent rows of `digest_ids` a complaint noted (an ESP's event or a feedback loop's report)."""
    # Exactly the partial index's condition first, so the database can use it.
    noted = Delivery.objects.filter(digest_id__in=digest_ids, state=Row.SENT).exclude(last_error="")
    return noted.filter(last_error__startswith=COMPLAINT_NOTE_PREFIX)


def _complained(digest_ids: list[int]) -> dict[int, int]:
    if not digest_ids:
        return {}
    rows = (
        delivery_complaints(digest_ids=digest_ids)
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


def digest_unsubscribes(*, digests: list[Digest]) -> Any:
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
        digest_unsubscribes(digests=digests)
        .order_by()  # the model's ordering would otherwise join the GROUP BY
        .annotate(digest_ref=KT("detail__digest"))
        .values("digest_ref")
        .annotate(n=Count("*"))
        .values_list("digest_ref", "n")
    )
    return _by_digest(rows)
