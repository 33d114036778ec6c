"""How far a digest has got: ledger counts, the rate it is going out at, what holds it back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from newsletters.delivery import pacing, throttle
from newsletters.delivery.domains import DOMAIN_GROUPS
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


def digest_pacing(*, digest_id: int) -> list[dict[str, Any]]:
    """The domain groups holding the digest back now: slowed down, or rows of it waiting.

    One Redis round trip (every group's bucket) and one query; [] when Redis is down.
    """
    try:
        paces = pacing.pacing_states()
    except throttle.ThrottleUnavailable:
        return []
    # Rows a group put back or deferred carry its name first in their note (pacing.py).
    waiting = Delivery.objects.filter(digest_id=digest_id, state=Row.PENDING).aggregate(
        **{
            str(group): Count("pk", filter=Q(last_error__startswith=pacing.note_prefix(group)))
            for group in DOMAIN_GROUPS
        }
    )
    held = []
    for pace in paces:
        count = int(waiting[pace.group] or 0)
        if not (pace.is_slowed or count):
            continue
        names = {"group": pace.group, "rate": f"{pace.rate:.3g}"}
        if pace.is_slowed:
            # Translators: %(reason)s is what the mail server answered, as "421 4.7.0".
            text = gettext("%(group)s: slowed to %(rate)s/s after %(reason)s (recovering)") % {
                **names,
                "reason": pace.reason,
            }
        elif pace.rate:
            text = gettext("%(group)s: held to %(rate)s/s") % names
        else:
            text = gettext("%(group)s: back to full speed") % names
        waiting_text = ngettext(
            "%(count)s message waiting", "%(count)s messages waiting", count
        ) % {"count": f"{count:,}"}
        text = f"{text}, {waiting_text}"
        held.append(
            {
                "group": pace.group,
                "rate": round(pace.rate, 2),
                "is_slowed": pace.is_slowed,
                "reason": pace.reason,
                "recovering_seconds": round(pace.recovering_seconds),
                "waiting": count,
                "text": text,
            }
        )
    return held


def digest_progress_report(*, digest: Digest) -> dict[str, Any]:
    """Counts, rate over the last minute, seconds to go and one line of text, for the desk.

    The text is in the active language (the editor's); the other values are for the script.
    """
    counts = digest_counts(digest_id=digest.pk)
    owed = counts["pending"] + counts["sending"]
    rate = 0.0
    eta: float | None = None
    held: list[dict[str, Any]] = []
    if digest.state == Digest.State.SENDING:
        rate = digest_send_rate(digest_id=digest.pk, started_at=digest.snapshot_at)
        eta = digest_eta_seconds(counts=counts, rate=rate)
        held = digest_pacing(digest_id=digest.pk) if owed else []
    duplicates = digest_possible_duplicates(digest_id=digest.pk)
    text = gettext(
        "%(sent)s sent · %(failed)s failed · %(skipped)s skipped · %(owed)s to go, of %(total)s"
    ) % {
        "sent": f"{counts['sent']:,}",
        "failed": f"{counts['failed']:,}",
        "skipped": f"{counts['skipped']:,}",
        "owed": f"{owed:,}",
        "total": f"{counts['total']:,}",
    }
    if duplicates:
        text += " · " + ngettext(
            "%(count)d may have had it twice (a worker died mid-send)",
            "%(count)d may have had it twice (a worker died mid-send)",
            duplicates,
        ) % {"count": duplicates}
    if rate >= 1:
        text += " · " + gettext("%(rate).1f/s over the last minute") % {"rate": rate}
    elif rate > 0:
        text += " · " + gettext("%(rate).0f/min over the last minute") % {"rate": rate * 60}
    if eta:
        text += " · " + gettext("about %(duration)s to go") % {"duration": _duration(eta)}
    for group in held:
        text += f" · {group['text']}"
    return {
        "state": digest.state,
        "state_label": digest.get_state_display(),
        "counts": counts,
        "done": counts["sent"] + counts["failed"] + counts["skipped"],
        "rate": round(rate, 2),
        "eta_seconds": None if eta is None else round(eta),
        "possible_duplicates": duplicates,
        "pacing": held,
        "text": text,
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return gettext("%(seconds)d s") % {"seconds": max(1, round(seconds))}
    if seconds < 90 * 60:
        return gettext("%(minutes)d min") % {"minutes": round(seconds / 60)}
    return gettext("%(hours).1f h") % {"hours": seconds / 3600}
