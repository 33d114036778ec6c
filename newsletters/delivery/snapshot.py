"""The audience snapshot: a digest's readers put in the ledger, one Delivery row each."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from mailinglist.models import Subscriber, Subscription, Suppression
from newsletters import rendering
from newsletters.delivery import fanout
from newsletters.delivery.ledger import Row
from newsletters.models import Delivery, Digest


def audience_count(*, mailing_list_id: int) -> int:
    """Readers a digest to this list would go to now: the snapshot's rule, counted."""
    now = timezone.now()
    return (
        Subscription.objects.filter(
            mailing_list_id=mailing_list_id, state=Subscription.State.ACTIVE
        )
        .filter(Q(subscriber__paused_until__isnull=True) | Q(subscriber__paused_until__lte=now))
        .exclude(subscriber__email_hash__in=Suppression.objects.values("email_hash"))
        .count()
    )


def digest_snapshot(*, digest_id: int) -> int:
    """Freeze the render and put the audience in the ledger (idempotent); returns its size.

    Active subscriptions of the list, readers not pausing, addresses not suppressed; each batch
    checks unsubscribes and suppressions again right before sending.
    """
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    rendering.digest_freeze(digest=digest)
    now = timezone.now()
    delivery, subscription = Delivery._meta.db_table, Subscription._meta.db_table
    subscriber, suppression = Subscriber._meta.db_table, Suppression._meta.db_table
    # A second snapshot of the same digest (the reconciler's, after an interrupted start) keeps
    # the rows there are; the first needs no conflict check, which costs a tenth of its time.
    on_conflict = (
        "ON CONFLICT DO NOTHING" if Delivery.objects.filter(digest_id=digest_id).exists() else ""
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement, however large the list: no query per reader.
        cursor.execute(
            f"""
            INSERT INTO {delivery} (digest_id, subscriber_id, state, attempts, last_error,
                                    message_id, claimed_by, expired_claims)
            SELECT %s, s.subscriber_id, %s, 0, '', '', '', 0
            FROM {subscription} s JOIN {subscriber} r ON r.id = s.subscriber_id
            WHERE s.mailing_list_id = %s AND s.state = %s
              AND (r.paused_until IS NULL OR r.paused_until <= %s)
              AND NOT EXISTS (SELECT 1 FROM {suppression} x WHERE x.email_hash = r.email_hash)
            {on_conflict}
            """,  # noqa: S608 - table names from our own models; values are parameters
            [
                digest_id,
                Row.PENDING,
                digest.mailing_list_id,
                Subscription.State.ACTIVE,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        # A first snapshot's rows are exactly those it inserted; a second one keeps earlier rows.
        total = (
            Delivery.objects.filter(digest_id=digest_id).count() if on_conflict else cursor.rowcount
        )
        Digest.objects.filter(pk=digest_id).update(snapshot_at=now, audience_count=total)
    transaction.on_commit(lambda: fanout.batches_enqueue(digest_id=digest_id))
    return total
