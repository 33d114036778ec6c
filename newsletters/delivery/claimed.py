"""A batch's claim: its block's due pending rows taken and loaded in one statement.

One `UPDATE … RETURNING` marks the rows as the batch's (so two copies of a batch task send each
message once) and hands back what sending needs — the row's id and attempts, the reader's
address, name and public id — as plain tuples: no second query to load what was just claimed,
and no model instances for rows the batch only reads (building them was a tenth of a worker's
CPU per message). The reader's columns come from correlated lookups by primary key rather than a
join, so a row whose reader is gone is still claimed, and then skipped, instead of being left
pending for ever; SQLite's RETURNING cannot name a joined table anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from mailinglist.models import Subscriber
from newsletters.models import Delivery
from operations.sqlite_turns import write_turn


@dataclass(frozen=True, slots=True)
class Reader:
    """What a message needs of its reader (mailinglist.models.Subscriber has the same names)."""

    pk: int
    email: str
    name: str
    public_id: str


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A ledger row this batch holds (state `sending`, claimed_by its token)."""

    pk: int
    subscriber_id: int
    attempts: int
    claimed_by: str
    # None: the reader was erased after the snapshot (their rows go with them, but a row left
    # behind by a raw delete must not wait for ever).
    subscriber: Reader | None


_LEDGER, _READERS = Delivery._meta.db_table, Subscriber._meta.db_table
_CLAIM = f"""
    UPDATE {_LEDGER} SET state = 'sending', claimed_by = %s, claimed_at = %s
    WHERE digest_id = %s AND id BETWEEN %s AND %s AND state = 'pending'
      AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
    RETURNING id, subscriber_id, attempts,
        (SELECT r.email FROM {_READERS} r WHERE r.id = subscriber_id),
        (SELECT r.name FROM {_READERS} r WHERE r.id = subscriber_id),
        (SELECT r.public_id FROM {_READERS} r WHERE r.id = subscriber_id)
"""  # noqa: S608 - table names from our own models; values are parameters


def rows_claim(
    *, digest_id: int, first_id: int, last_id: int, token: str, now: datetime
) -> list[ClaimedRow]:
    """Claim the due pending rows of [first_id, last_id] under `token`, in id order."""
    at = connection.ops.adapt_datetimefield_value(now)
    with write_turn(connection), connection.cursor() as cursor:
        cursor.execute(_CLAIM, [token, at, digest_id, first_id, last_id, at])
        found = cursor.fetchall()
    # RETURNING gives rows in no promised order; the reconciler's bound needs id order (the
    # lowest row a dead claim still holds is the one that may have been on the wire).
    found.sort()
    return [
        ClaimedRow(
            pk=row_id,
            subscriber_id=subscriber_id,
            attempts=attempts,
            claimed_by=token,
            subscriber=None if email is None else Reader(subscriber_id, email, name, public_id),
        )
        for row_id, subscriber_id, attempts, email, name, public_id in found
    ]
