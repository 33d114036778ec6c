"""One mail that came back, applied exactly once: a bounce, a complaint or a mailto: unsubscribe.

The mailbox poller and the LMTP receiver both hand each mail to inbound_message_process. Whose it
is comes from the signed address it was sent to (addressing.py), what it is from its content
(classify.py); the effects are the ones ESP webhooks have (delivery/reader_feedback.py), so a
digest's report counts them alike. Each applied mail is an InboundEvent, unique by the SHA-256 of
its bytes: a mailbox fetched twice or an LMTP retry changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.message import Message

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mailinglist.addresses import email_hash
from mailinglist.models import Subscriber, Suppression
from mailinglist.return_path import Ref
from mailinglist.subscriptions import RequestMeta, suppression_add
from newsletters.delivery.reader_feedback import (
    Target,
    delivery_fail,
    reader_complaint_apply,
    reader_unsubscribe_apply,
)
from newsletters.inbound import addressing, classify
from newsletters.inbound.models import InboundEvent
from newsletters.models import Delivery

logger = logging.getLogger(__name__)
Kind = InboundEvent.Kind

MAX_MAIL_BYTES = 10 * 1024 * 1024  # a report carries one returned digest: far less than this
UNSUBSCRIBE_METHOD = "List-Unsubscribe mailto"
FEEDBACK_LOOP = "feedback loop"


@dataclass(frozen=True)
class InboundResult:
    # "hard-bounce" | "soft-bounce" | "delayed" | "complaint" | "unsubscribe" | "ignored"
    # | "duplicate"
    kind: str
    detail: str  # one line for logs and the command's output
    delivery_id: int | None = None


def inbound_message_process(
    *, raw: bytes, envelope_recipients: Sequence[str] = (), source: str
) -> InboundResult:
    """Apply one inbound mail (bounce, complaint or unsubscribe) exactly once; never raises for
    malformed mail."""
    if not isinstance(raw, bytes) or not raw.strip():
        return _ignored("empty mail", source)
    if len(raw) > MAX_MAIL_BYTES:
        return _ignored(f"mail of {len(raw)} bytes is too large to be a report", source)
    try:
        message = message_from_bytes(raw)
        recipients = [str(address) for address in envelope_recipients][:20]
        is_report = classify.is_feedback_report(message)
        if is_report:
            ref = addressing.complaint_ref(message=message, envelope_recipients=recipients)
        else:
            ref = addressing.recipient_ref(message=message, envelope_recipients=recipients)
    except Exception as error:  # the email package is lenient, but malformed input is ours
        return _ignored(f"unreadable mail ({type(error).__name__})", source)
    if ref is None:
        return _ignored("no signed return path or unsubscribe address (unsigned or forged)", source)
    subscriber = Subscriber.objects.filter(pk=ref.subscriber_id).first()
    if subscriber is None:
        return _ignored(f"signed for reader {ref.subscriber_id}, who is no longer here", source)
    verdict = _verdict(message=message, ref=ref, is_report=is_report)
    if verdict.kind == classify.NONE:
        return _ignored(f"{verdict.reason} (reader {subscriber.pk})", source)
    delivery = _delivery(ref)
    fingerprint = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = InboundEvent.objects.create(
                    kind=verdict.kind,
                    subscriber=subscriber,
                    digest_id=ref.digest_id or None,
                    delivery_id=delivery.pk if delivery is not None else None,
                    # Soft bounces are scored by the address that failed (_apply).
                    email_hash=email_hash(_failed_address(verdict, subscriber)),
                    detail=verdict.reason[:300],
                    source=source[:64],
                    fingerprint=fingerprint,
                )
        except IntegrityError:
            detail = f"already applied ({verdict.kind}, reader {subscriber.pk})"
            logger.info("Inbound mail from %s: %s", source, detail)
            return InboundResult(kind="duplicate", detail=detail)
        target = Target(email=subscriber.email, delivery=delivery, subscriber=subscriber)
        done = _apply(verdict=verdict, target=target, ref=ref, event=event)
    detail = f"{verdict.kind} for reader {subscriber.pk}: {done} ({verdict.reason})"[:500]
    logger.info("Inbound mail from %s: %s", source, detail)
    return InboundResult(
        kind=verdict.kind,
        detail=detail,
        delivery_id=delivery.pk if delivery is not None else None,
    )


def _ignored(reason: str, source: str) -> InboundResult:
    logger.info("Inbound mail from %s ignored: %s", source, reason)
    return InboundResult(kind="ignored", detail=reason)


def _verdict(*, message: Message, ref: Ref, is_report: bool) -> classify.Verdict:
    if is_report:
        return classify.mail_classify(message=message)
    if ref.kind == "u":
        # RFC 2369: any mail to the List-Unsubscribe mailto: address asks to leave the list.
        return classify.Verdict(Kind.UNSUBSCRIBE, "mail to the List-Unsubscribe address")
    return classify.mail_classify(message=message)


def _failed_address(verdict: classify.Verdict, subscriber: Subscriber) -> str:
    """The reader's address, unless the report names only others (see _apply)."""
    if not verdict.addresses or subscriber.email.lower() in verdict.addresses:
        return subscriber.email
    return min(verdict.addresses)


def _delivery(ref: Ref) -> Delivery | None:
    if not ref.digest_id:
        return None  # transactional mail ('t') or a mailto: without a digest has no ledger row
    return (
        Delivery.objects.select_related("digest")
        .filter(digest_id=ref.digest_id, subscriber_id=ref.subscriber_id)
        .first()
    )


def _apply(*, verdict: classify.Verdict, target: Target, ref: Ref, event: InboundEvent) -> str:
    meta = RequestMeta(user_agent=f"inbound mail ({event.source})"[:200])
    if verdict.kind == Kind.COMPLAINT:
        return reader_complaint_apply(
            target=target, who=FEEDBACK_LOOP, meta=meta, from_digest=ref.digest_id or None
        )
    if verdict.kind == Kind.UNSUBSCRIBE:
        return reader_unsubscribe_apply(
            target=target,
            list_ids=[ref.list_id],
            method=UNSUBSCRIBE_METHOD,
            meta=meta,
            from_digest=ref.digest_id or None,
            note="The reader unsubscribed by mail (List-Unsubscribe mailto:).",
        )
    if verdict.kind == Kind.DELAYED:
        return "noted; the server keeps trying"
    if verdict.is_failed:
        delivery_fail(target=target, error=f"Bounced ({verdict.kind}): {verdict.reason}")
    if event.email_hash != email_hash(target.email):
        # The report names another address: the reader changed theirs since this mail went,
        # or it was forwarded on and the forward failed. Their address now is not the one that
        # failed, so it stays mailable.
        return (
            "row failed; the report names another address than the reader's, which stays mailable"
        )
    if verdict.kind == Kind.HARD_BOUNCE:
        suppression_add(
            email=target.email,
            reason=Suppression.Reason.BOUNCED,
            note=f"bounce: {verdict.reason}"[:200],
        )
        return "row failed, address suppressed (bounced)"
    return _soft_score(target=target, event=event)


def _soft_score(*, target: Target, event: InboundEvent) -> str:
    days = float(settings.BOUNCE_SOFT_WINDOW_DAYS)
    limit = int(settings.BOUNCE_SOFT_LIMIT)
    count = InboundEvent.objects.filter(
        email_hash=event.email_hash,
        kind=Kind.SOFT_BOUNCE,
        received_at__gte=timezone.now() - timedelta(days=days),
    ).count()
    if count < limit:
        return f"row failed; soft bounce {count} of {limit} within {days:g} days"
    suppression_add(
        email=target.email,
        reason=Suppression.Reason.BOUNCED,
        note=f"{count} soft bounces within {days:g} days"[:200],
    )
    return f"row failed, address suppressed ({count} soft bounces within {days:g} days)"
