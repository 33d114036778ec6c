"""The audience snapshot: a digest's readers put in the ledger, one Delivery row each."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from mailinglist import audience
from newsletters import rendering
from newsletters.delivery import fanout
from newsletters.delivery.ledger import Row
from newsletters.models import Delivery, Digest


def digest_snapshot(*, digest_id: int) -> int:
    """Freeze the render and put the audience in the ledger (idempotent); returns its size.

    Who is in it is mailinglist's rule (mailinglist.audience); each batch checks it again right
    before sending.
    """
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    rendering.digest_freeze(digest=digest)
    now = timezone.now()
    readers = audience.audience_sql(mailing_list_id=digest.mailing_list_id, now=now)
    # A second snapshot of the same digest (the reconciler's, after an interrupted start) keeps
    # the rows there are; the first needs no conflict check, which costs a tenth of its time.
    on_conflict = (
        "ON CONFLICT DO NOTHING" if Delivery.objects.filter(digest_id=digest_id).exists() else ""
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement, however large the list: no query per reader. Table names come from our
        # own models; values are parameters. In reader order: every index on the ledger then
        # takes its new keys at one edge rather than all over it (measured on PostgreSQL at a
        # million readers: 17% less server CPU, the sort included), and a reader's rows sit in
        # runs that the BRIN on subscriber_id can find.
        cursor.execute(
            f"""
            INSERT INTO {Delivery._meta.db_table} (digest_id, subscriber_id, state, attempts,
                                    last_error, message_id, claimed_by, expired_claims)
            SELECT %s, {readers.reader_id}, %s, 0, '', '', '', 0
            {readers.from_where}
            ORDER BY {readers.reader_id}
            {on_conflict}
            """,
            [digest_id, Row.PENDING, *readers.params],
        )
        # A first snapshot's rows are exactly those it inserted; a second one keeps earlier rows.
        total = (
            Delivery.objects.filter(digest_id=digest_id).count() if on_conflict else cursor.rowcount
        )
        Digest.objects.filter(pk=digest_id).update(snapshot_at=now, audience_count=total)
    transaction.on_commit(lambda: fanout.batches_enqueue(digest_id=digest_id))
    return total
