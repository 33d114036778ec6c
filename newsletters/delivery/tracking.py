"""What an ESP's tracking events mean here: the ledger, the suppression list, subscriptions.

django-anymail's webhooks turn every ESP's payloads into one vocabulary (bounced, complained,
unsubscribed, rejected, ...). An event finds its ledger row by the metadata each digest message
carries ({"digest", "delivery"}, echoed by the ESP); without it (a confirmation mail, say) only
the address is known, which is enough for the suppression list. ESPs repeat a webhook until it
is answered 2xx, so applying an event twice changes nothing and records nothing twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from mailinglist.addresses import email_normalise
from mailinglist.models import Subscriber, Suppression
from mailinglist.subscriptions import RequestMeta, suppression_add
from newsletters.delivery.reader_feedback import (
    Target,
    delivery_fail,
    reader_complaint_apply,
    reader_unsubscribe_apply,
)
from newsletters.models import Delivery

logger = logging.getLogger(__name__)

# An enhanced status code 4.x.x (RFC 3463) or a leading 4xx reply: the receiving server will
# take mail later (mailbox full, greylisting). Some ESPs still report these as bounces; they
# fail this message but must not suppress the address for good.
_TRANSIENT_REPLY = re.compile(r"(?<![\d.])4\.\d{1,3}\.\d{1,3}(?![\d.])|^\W*(?:smtp;\s*)?4\d\d\b")
# anymail's reject reasons that say the address itself cannot receive mail.
_REJECTED_AS_BOUNCE = {"invalid", "bounced"}


def tracking_event_apply(*, event: Any, esp_name: str) -> str:
    """Apply one anymail tracking event (idempotent); returns what it did, for the log.

    bounced → the row failed and the address suppressed (unless the server will take mail
    later); complained → suppressed and unsubscribed from every list; unsubscribed → off the
    digest's list (every list without metadata); rejected/failed → the row failed, suppressed
    if the ESP says the address is invalid or bounced. Everything else is only noted.
    """
    kind = str(getattr(event, "event_type", "") or "unknown")
    handler = _HANDLERS.get(kind)
    if handler is None:
        return f"{esp_name} {kind} event: nothing to do"
    with transaction.atomic():
        target = _target(event)
        if target is None:
            return f"{esp_name} {kind} event without a usable recipient or delivery: ignored"
        done = handler(event, target, esp_name)
    logger.info("%s %s event for delivery %s: %s", esp_name, kind, _row_id(target), done)
    return done


def _row_id(target: Target) -> str:
    return str(target.delivery.pk) if target.delivery is not None else "-"


def _target(event: Any) -> Target | None:
    metadata = getattr(event, "metadata", None)
    metadata = metadata if isinstance(metadata, dict) else {}
    recipient = _address(getattr(event, "recipient", None))
    delivery = _delivery(metadata)
    if (
        delivery is not None
        and recipient
        and delivery.subscriber.email.lower() != recipient.lower()
    ):
        # Metadata that names another reader's row (a row id reused after retention deleted the
        # old ledger, say) must not fail or unsubscribe them: trust the address instead.
        delivery = None
    if delivery is not None:
        return Target(
            email=delivery.subscriber.email, delivery=delivery, subscriber=delivery.subscriber
        )
    if not recipient:
        return None
    subscriber = Subscriber.objects.filter(email__iexact=recipient).first()
    return Target(email=recipient, delivery=None, subscriber=subscriber)


def _address(raw: object) -> str:
    if not isinstance(raw, str):
        return ""
    try:
        return email_normalise(raw)
    except ValidationError:
        return ""


def _delivery(metadata: dict[Any, Any]) -> Delivery | None:
    delivery_id, digest_id = str(metadata.get("delivery", "")), str(metadata.get("digest", ""))
    if not delivery_id.isascii() or not delivery_id.isdigit() or len(delivery_id) > 18:
        return None
    row = (
        Delivery.objects.select_related("subscriber", "digest").filter(pk=int(delivery_id)).first()
    )
    if row is None or (digest_id and digest_id != str(row.digest_id)):
        return None
    return row


def _reason(event: Any) -> str:
    parts = [
        str(value)
        for value in (getattr(event, "mta_response", None), getattr(event, "description", None))
        if value
    ]
    return " ".join(" ".join(parts).split())[:300] or "no reason given"


def _meta(esp_name: str) -> RequestMeta:
    return RequestMeta(user_agent=f"{esp_name} tracking webhook")


def _bounced(event: Any, target: Target, esp_name: str) -> str:
    reason = _reason(event)
    delivery_fail(target=target, error=f"Bounced ({esp_name}): {reason}")
    if _TRANSIENT_REPLY.search(reason):
        return "row failed; a temporary failure, so not suppressed"
    suppression_add(
        email=target.email,
        reason=Suppression.Reason.BOUNCED,
        note=f"{esp_name} bounce: {reason}"[:200],
    )
    return "row failed, address suppressed (bounced)"


def _complained(event: Any, target: Target, esp_name: str) -> str:
    return reader_complaint_apply(target=target, who=esp_name, meta=_meta(esp_name))


def _unsubscribed(event: Any, target: Target, esp_name: str) -> str:
    delivery = target.delivery
    return reader_unsubscribe_apply(
        target=target,
        list_ids=[delivery.digest.mailing_list_id] if delivery is not None else None,
        method=f"{esp_name} unsubscribe",
        meta=_meta(esp_name),
        from_digest=delivery.digest_id if delivery is not None else None,
        note=f"The reader unsubscribed through {esp_name}.",
    )


def _rejected(event: Any, target: Target, esp_name: str) -> str:
    reject_reason = str(getattr(event, "reject_reason", "") or "other")
    reason = f"{reject_reason}; {_reason(event)}"
    delivery_fail(target=target, error=f"Rejected by {esp_name} ({reason})")
    if reject_reason in _REJECTED_AS_BOUNCE:
        suppression_add(
            email=target.email,
            reason=Suppression.Reason.BOUNCED,
            note=f"{esp_name} rejected it: {reason}"[:200],
        )
        return "row failed, address suppressed (rejected as invalid or bounced)"
    if reject_reason == "spam":
        suppression_add(
            email=target.email,
            reason=Suppression.Reason.COMPLAINED,
            note=f"{esp_name} rejected it: {reason}"[:200],
        )
        return "row failed, address suppressed (an earlier spam complaint)"
    return "row failed"


def _failed(event: Any, target: Target, esp_name: str) -> str:
    delivery_fail(target=target, error=f"{esp_name} could not send it: {_reason(event)}")
    return "row failed"


_HANDLERS: dict[str, Callable[[Any, Target, str], str]] = {
    "bounced": _bounced,
    "complained": _complained,
    "unsubscribed": _unsubscribed,
    "rejected": _rejected,
    "failed": _failed,
}
