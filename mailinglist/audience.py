"""Who may be mailed on a list now: the audience rule, as selectors the delivery engine runs.

A reader may be mailed when their subscription to the list is active, they are not pausing
(`paused_until` unset or past) and their address is not suppressed. The rule lives here, beside
the tables it reads, so the snapshot, the send-now count and a batch's last-moment re-check
cannot drift apart. These are queries only: no writes, no mail, no cache.

They are plain SQL because they sit on the hot path of a million-reader send: the snapshot
embeds the rule in its one `INSERT … SELECT`, and a batch re-checks every group of readers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from mailinglist.models import Subscriber, Subscription, Suppression
from operations.driver_statements import driver_fetch

ACTIVE = Subscription.State.ACTIVE

SKIPPED_SUPPRESSED = "Suppressed."
SKIPPED_PAUSED = "Paused."
SKIPPED_UNSUBSCRIBED = "Unsubscribed before sending."


@dataclass(frozen=True)
class AudienceSql:
    """The mailable readers of one list as a `FROM … WHERE …` fragment to embed in a statement.

    Each row is one reader; `reader_id` is the expression of their subscriber id. `params` are
    the fragment's own, in order. The fragment ends with its WHERE clause, so an `ON CONFLICT`
    may follow it (SQLite reads `ON` right after a join as the join's condition).
    """

    from_where: str
    params: list[Any]
    reader_id: str = "s.subscriber_id"


def audience_sql(*, mailing_list_id: int, now: datetime) -> AudienceSql:
    """The rule for `mailing_list_id` at `now` as SQL, for one set-based statement over the list.

    Walks the list by its (list, state) index and looks each reader up by primary key; the
    NOT EXISTS meets the suppression list's unique hash index: no query per reader.
    """
    subscription, subscriber = Subscription._meta.db_table, Subscriber._meta.db_table
    suppression = Suppression._meta.db_table
    return AudienceSql(
        from_where=f"""
            FROM {subscription} s JOIN {subscriber} r ON r.id = s.subscriber_id
            WHERE s.mailing_list_id = %s AND s.state = %s
              AND (r.paused_until IS NULL OR r.paused_until <= %s)
              AND NOT EXISTS (SELECT 1 FROM {suppression} x WHERE x.email_hash = r.email_hash)
        """,  # noqa: S608 - table names from our own models; values are parameters
        params=[mailing_list_id, ACTIVE, connection.ops.adapt_datetimefield_value(now)],
    )


def audience_count(*, mailing_list_id: int, now: datetime | None = None) -> int:
    """How many readers a digest to this list would go to now: exactly the snapshot's rule."""
    audience = audience_sql(mailing_list_id=mailing_list_id, now=now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {audience.from_where}", audience.params)
        (count,) = cursor.fetchone()
    return int(count)


_STILL_MAILABLE = f"""
    SELECT s.subscriber_id, s.state
    FROM {Subscription._meta.db_table} s
    JOIN {Subscriber._meta.db_table} r ON r.id = s.subscriber_id
    WHERE s.mailing_list_id = {{mark}} AND s.subscriber_id {{readers}}
      AND (r.paused_until IS NULL OR r.paused_until <= {{mark}})
      AND NOT EXISTS (
        SELECT 1 FROM {Suppression._meta.db_table} x WHERE x.email_hash = r.email_hash
      )
"""  # noqa: S608 - table names from our own models; values are parameters
# One text whatever the group's size on PostgreSQL (the readers as one array), so the statement
# is prepared once per connection: planning the join took twice its run time.
_STILL_MAILABLE_POSTGRESQL = _STILL_MAILABLE.format(readers="= ANY(%s::bigint[])", mark="%s")


def readers_still_mailable(
    *, mailing_list_id: int, subscriber_ids: Collection[int], now: datetime | None = None
) -> set[int]:
    """Those of `subscriber_ids` who may still be mailed on the list: one query, whatever the size.

    Run before every group a batch sends, so plain SQL: the ORM took ten times the query's own
    time to build it. Readers are found by (subscriber, list), the unique index, and their state
    checked here: a state filter in SQL lets SQLite choose the (list, state) index and walk the
    whole list for every group. The pause is the reader's own row, reached by primary key.
    """
    if not subscriber_ids:
        return set()
    readers = list(subscriber_ids)
    at = connection.ops.adapt_datetimefield_value(now or timezone.now())
    if connection.vendor == "postgresql":
        sql, params = _STILL_MAILABLE_POSTGRESQL, [mailing_list_id, readers, at]
    else:
        marks = ", ".join(["?"] * len(readers))
        sql = _STILL_MAILABLE.format(readers=f"IN ({marks})", mark="?")
        params = [mailing_list_id, *readers, at]
    found = driver_fetch(connection, postgresql=sql, sqlite=sql, params=params)
    return {reader for reader, state in found if state == ACTIVE}


def reader_skip_reason(
    *, mailing_list_id: int, subscriber_id: int, now: datetime | None = None
) -> str:
    """Why a reader the re-check left out is not mailed, in words for the ledger: one query.

    Only for readers already found not mailable, which are few. A reader whose rule changed back
    since the re-check is still reported as having left: they were not mailable when it ran.
    """
    at = now or timezone.now()
    found = (
        Subscriber.objects.filter(pk=subscriber_id)
        .annotate(
            is_suppressed=Exists(Suppression.objects.filter(email_hash=OuterRef("email_hash"))),
            list_state=Subquery(
                Subscription.objects.filter(
                    subscriber_id=OuterRef("pk"), mailing_list_id=mailing_list_id
                ).values("state")[:1]
            ),
        )
        .values_list("is_suppressed", "list_state", "paused_until")
        .first()
    )
    if found is None:
        return SKIPPED_UNSUBSCRIBED
    is_suppressed, list_state, paused_until = found
    if is_suppressed:
        return SKIPPED_SUPPRESSED
    if list_state == ACTIVE and paused_until is not None and paused_until > at:
        return SKIPPED_PAUSED
    return SKIPPED_UNSUBSCRIBED
