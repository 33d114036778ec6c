"""What comes back from a reader's mailbox, whichever way it arrives: an ESP's tracking events
(tracking.py) or bounce, complaint and unsubscribe mail (newsletters/inbound/).

One set of effects, so that a complaint from a feedback loop and one from an ESP's webhook are
noted, suppressed and counted in a digest's report (figures.py) exactly alike. Each effect is
idempotent: mail and webhooks both come again.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailinglist.models import Subscriber, Suppression
from mailinglist.subscriptions import RequestMeta, subscription_unsubscribe, suppression_add
from newsletters.delivery.figures import COMPLAINT_NOTE_PREFIX
from newsletters.models import Delivery

Row = Delivery.State


@dataclass(frozen=True)
class Target:
    """Whose mail it was: the address always, the ledger row and the reader when known."""

    email: str  # the recipient, as stored (normalised)
    delivery: Delivery | None
    subscriber: Subscriber | None


def delivery_fail(*, target: Target, error: str) -> None:
    """The target's row is failed with `error` (a skipped row, never sent, stays skipped)."""
    if target.delivery is not None:
        Delivery.objects.filter(pk=target.delivery.pk).exclude(state=Row.SKIPPED).update(
            state=Row.FAILED, last_error=error[:500]
        )


def delivery_note(*, target: Target, note: str) -> None:
    """A sent row keeps its state, with what the reader did next written beside it."""
    if target.delivery is not None:
        Delivery.objects.filter(pk=target.delivery.pk, state=Row.SENT).update(last_error=note[:500])


def reader_complaint_apply(
    *, target: Target, who: str, meta: RequestMeta, from_digest: int | None = None
) -> str:
    """The address suppressed (complained), the reader off every list, the row noted so the
    digest's report counts the complaint; returns what it did."""
    suppression_add(
        email=target.email,
        reason=Suppression.Reason.COMPLAINED,
        note=f"{who}: the reader reported a message as spam"[:200],
    )
    delivery_note(
        target=target,
        note=f"{COMPLAINT_NOTE_PREFIX} by the reader ({who}); suppressed, unsubscribed.",
    )
    left = []
    if target.subscriber is not None:
        left = subscription_unsubscribe(
            subscriber=target.subscriber,
            list_ids=None,
            meta=meta,
            method=f"{who} spam complaint",
            from_digest=from_digest,
        )
    return f"suppressed (complained), unsubscribed from {len(left)} list(s)"


def reader_unsubscribe_apply(
    *,
    target: Target,
    list_ids: list[int] | None,
    method: str,
    meta: RequestMeta,
    from_digest: int | None,
    note: str,
) -> str:
    """The reader off `list_ids` (None: every list), the digest credited with it, the row
    noted; returns what it did."""
    if target.subscriber is None:
        return "no subscriber with that address: nothing to unsubscribe"
    left = subscription_unsubscribe(
        subscriber=target.subscriber,
        list_ids=list_ids,
        meta=meta,
        method=method,
        # The digest's report counts the readers it lost, whichever way they left.
        from_digest=from_digest,
    )
    if left:
        delivery_note(target=target, note=note)
    return f"unsubscribed from {len(left)} list(s)"
