"""What staff may do to the audience directly, and what they may never override.

A staff addition is active at once with its consent note recorded, but never for a suppressed
address or over a reader's own unsubscribe.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from mailinglist.models import (
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
)
from mailinglist.subscriptions import (
    State,
    consent_event_record,
    is_suppressed,
    subscriber_get_or_create,
)


class SubscriptionRefused(Exception):
    """A staff request that must not go through; the message says why, for the API's answer."""


@transaction.atomic
def subscriber_add_by_staff(
    *, email: str, lists: list[MailingList], name: str, consent: str, by: str
) -> Subscriber:
    """Add one address that staff say agreed already: active at once, their note recorded.

    Refused for a suppressed address (bounced, complained, erased) and for a list the person
    left: staff can never override someone's "no"; only the reader can resubscribe.
    """
    if is_suppressed(email=email):
        raise SubscriptionRefused("This address is suppressed and cannot be added.")
    subscriber, _ = subscriber_get_or_create(email=email, name=name)
    left = Subscription.objects.filter(
        subscriber=subscriber, mailing_list__in=lists, state=State.UNSUBSCRIBED
    ).values_list("mailing_list__slug", flat=True)
    if left:
        raise SubscriptionRefused(
            f"This address unsubscribed from {', '.join(sorted(left))}; only they can resubscribe."
        )
    if name and not subscriber.name:
        subscriber.name = name
        subscriber.save(update_fields=["name"])
    now = timezone.now()
    for mailing_list in lists:
        Subscription.objects.update_or_create(
            subscriber=subscriber,
            mailing_list=mailing_list,
            defaults={"state": State.ACTIVE, "confirmed_at": now},
            create_defaults={
                "state": State.ACTIVE,
                "confirmed_at": now,
                "requested_at": now,
                "source": Subscription.Source.STAFF,
            },
        )
    consent_event_record(
        kind=ConsentEvent.Kind.IMPORT,
        subscriber=subscriber,
        lists=lists,
        detail={"consent": consent, "by": by, "via": "api"},
    )
    return subscriber


def subscriber_summary(*, subscriber: Subscriber) -> dict[str, Any]:
    """The subscriber as the staff API shows it: overall state and the state on each list."""
    states = dict(
        subscriber.subscriptions.values_list("mailing_list__slug", "state").order_by(
            "mailing_list__slug"
        )
    )
    if is_suppressed(email=subscriber.email):
        overall = "suppressed"
    elif State.ACTIVE in states.values():
        overall = State.ACTIVE.value
    elif State.PENDING in states.values():
        overall = State.PENDING.value
    else:
        overall = State.UNSUBSCRIBED.value
    return {"email": subscriber.email, "state": overall, "lists": states}
