"""How far a digest has got: ledger counts, and the rate it is going out at."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from newsletters.models import Delivery, Digest

Row = Delivery.State


def digest_counts(*, digest_id: int) -> dict[str, int]:
    """Rows per state and their total: they always add up to the audience snapshot.

    After retention deleted the rows, the counts kept on the digest answer instead.
    """
    kept = Digest.objects.filter(pk=digest_id).values_list("retained_counts", flat=True).first()
    if kept:
        return {state: int(kept.get(state, 0)) for state in [*Row.values, "total"]}
    by_state = dict(
        Delivery.objects.filter(digest_id=digest_id)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    counts = {state: int(by_state.get(state, 0)) for state in Row.values}
    counts["total"] = sum(counts.values())
    return counts


def digest_send_rate(
    *, digest_id: int, window_seconds: int = 60, started_at: datetime | None = None
) -> float:
    """Messages per second recorded as sent over the last `window_seconds`.

    In a send's first minute the window is only as long as the send (from `started_at`), so the
    rate is not understated by the seconds before it began.
    """
    now = timezone.now()
    since = now - timedelta(seconds=window_seconds)
    recent = Delivery.objects.filter(
        digest_id=digest_id, state=Row.SENT, sent_at__gte=since
    ).count()
    span = float(window_seconds)
    if started_at is not None and started_at > since:
        span = max(1.0, (now - started_at).total_seconds())
    return recent / span


def digest_eta_seconds(*, counts: dict[str, int], rate: float) -> float | None:
    """Seconds until every owed message is sent at `rate`; None when nothing is moving."""
    owed = counts["pending"] + counts["sending"]
    if owed == 0:
        return 0.0
    if rate <= 0:
        return None
    return owed / rate


def digest_possible_duplicates(*, digest_id: int) -> int:
    """Readers whose row a dead worker held: each may have received the digest twice."""
    kept = Digest.objects.filter(pk=digest_id).values_list("retained_counts", flat=True).first()
    if kept:
        return int(kept.get("possible_duplicates", 0))
    return Delivery.objects.filter(digest_id=digest_id, expired_claims__gt=0).count()


def digest_progress_report(*, digest: Digest) -> dict[str, Any]:
    """Counts, rate over the last minute, seconds to go and one line of text, for the desk."""
    counts = digest_counts(digest_id=digest.pk)
    owed = counts["pending"] + counts["sending"]
    rate = 0.0
    eta: float | None = None
    if digest.state == Digest.State.SENDING:
        rate = digest_send_rate(digest_id=digest.pk, started_at=digest.snapshot_at)
        eta = digest_eta_seconds(counts=counts, rate=rate)
    duplicates = digest_possible_duplicates(digest_id=digest.pk)
    text = (
        f"{counts['sent']:,} sent · {counts['failed']:,} failed · {counts['skipped']:,} skipped · "
        f"{owed:,} to go, of {counts['total']:,}"
    )
    if duplicates:
        text += f" · {duplicates} may have had it twice (a worker died mid-send)"
    if rate >= 1:
        text += f" · {rate:.1f}/s over the last minute"
    elif rate > 0:
        text += f" · {rate * 60:.0f}/min over the last minute"
    if eta:
        text += f" · about {_duration(eta)} to go"
    return {
        "state": digest.state,
        "state_label": digest.get_state_display(),
        "counts": counts,
        "done": counts["sent"] + counts["failed"] + counts["skipped"],
        "rate": round(rate, 2),
        "eta_seconds": None if eta is None else round(eta),
        "possible_duplicates": duplicates,
        "text": text,
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
