"""Data for the dashboard tests, made with the suite's factories, and direct counts to check by."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from mailinglist.models import ConsentEvent, MailingList, Subscriber, Suppression
from mailinglist.subscriptions import suppression_add
from newsletters.models import Delivery, Digest
from operations.redis_client import redis_client
from tests.factories import DigestFactory, SubscriberFactory, SubscriptionFactory

Row = Delivery.State


def forget_dashboard_cache() -> None:
    client = redis_client()
    keys = list(client.scan_iter(match="newsdesk:*dashboard:*", count=1000))
    if keys:
        client.delete(*keys)


def days_ago(n: int, *, hour: int = 12) -> datetime:
    """Noon (by default) `n` days before today, in the site's timezone; never in the future.

    Today's noon is still to come in the morning, and figures count what has happened: then the
    moment is just now (still today), so a test means the same at any hour it runs.
    """
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today - timedelta(days=n), datetime.min.time()))
    moment = start + timedelta(hours=hour)
    now = timezone.now()
    if moment > now:
        moment = max(start, now - timedelta(seconds=1))
    return moment


def event(
    kind: str, *, at: datetime, subscriber: Subscriber | None = None, **fields: Any
) -> ConsentEvent:
    """A consent record as if made at `at` (the field is set on insert, so it is moved after)."""
    made = ConsentEvent.objects.create(kind=kind, subscriber=subscriber, **fields)
    ConsentEvent.objects.filter(pk=made.pk).update(at=at)
    made.refresh_from_db()
    return made


def suppressed(email: str, reason: str, *, at: datetime) -> Suppression:
    made = suppression_add(email=email, reason=reason, note="test")
    Suppression.objects.filter(pk=made.pk).update(created_at=at)
    return made


def readers(mailing_list: MailingList, n: int, *, prefix: str = "reader") -> list[Subscriber]:
    made = []
    for i in range(n):
        subscriber = SubscriberFactory.create(email=f"{prefix}{i}@example.com")
        SubscriptionFactory.create(subscriber=subscriber, mailing_list=mailing_list)
        made.append(subscriber)
    return made


def ledger_digest(
    *,
    mailing_list: MailingList,
    rows: list[tuple[Subscriber, str, str]],
    state: str = Digest.State.SENT,
    snapshot_at: datetime | None = None,
    subject: str = "",
    duplicates: tuple[Subscriber, ...] = (),
) -> Digest:
    """A digest that went out, with one ledger row per (reader, state, last_error)."""
    when = snapshot_at or timezone.now() - timedelta(hours=2)
    digest = DigestFactory.create(
        mailing_list=mailing_list,
        state=state,
        send_at=when,
        snapshot_at=when,
        rendered_at=when,
        audience_count=len(rows),
        sent_at=when + timedelta(minutes=5) if state == Digest.State.SENT else None,
        **({"subject": subject} if subject else {}),
    )
    Delivery.objects.bulk_create(
        Delivery(
            digest=digest,
            subscriber=subscriber,
            state=row_state,
            last_error=error,
            attempts=1 if row_state in {Row.SENT, Row.FAILED} else 0,
            sent_at=when + timedelta(minutes=1) if row_state == Row.SENT else None,
            message_id=f"digest-{subscriber.pk}" if row_state == Row.SENT else "",
            expired_claims=1 if subscriber in duplicates else 0,
        )
        for subscriber, row_state, error in rows
    )
    return digest
