"""Recording one accepted message in the ledger the moment the server accepts it.

One UPDATE, committed on its own and conditional on the claim still being the batch's (a row
the reconciler took back, or a webhook already failed, is left as it is). Committing each
message, rather than a group of 20 together, is what bounds a crash to the message on the wire.
Its cost is measured by `make bench` (`ledger_record`, and `send_rate` end to end) and written
down in docs/performance.md: on SQLite, two pool processes committing every message take turns
on the database's one write lock.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from newsletters.models import Delivery

_SQL = """
    UPDATE {table} SET state = 'sent', attempts = attempts + 1,
        message_id = %s, sent_at = %s, last_error = '', claimed_by = ''
    WHERE id = %s AND claimed_by = %s AND state = 'sending'
"""


def sent_record(*, row_id: int, claimed_by: str, message_id: str) -> int:
    """Mark the row sent with its Message-ID now; 1 if it was still ours, else 0."""
    sent_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _SQL.format(table=Delivery._meta.db_table),
            [message_id, sent_at, row_id, claimed_by],
        )
        return int(cursor.rowcount)
