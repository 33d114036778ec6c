"""A digest's ledger as CSV rows: who was sent what, when, with which Message-ID, and why not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from newsletters.models import Delivery

LEDGER_COLUMNS = [
    "email",
    "state",
    "attempts",
    "sent_at",
    "message_id",
    "last_error",
    "possible_duplicate",
    "next_attempt_at",
]


def digest_ledger_rows(*, digest_id: int, chunk_size: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per ledger row, read a chunk at a time (for streaming).

    In the order of the (digest, subscriber) unique index, so the database walks the index
    rather than sorting a million rows. Nothing after retention: the rows are gone.
    """
    yield list(LEDGER_COLUMNS)
    rows = (
        Delivery.objects.filter(digest_id=digest_id)
        .order_by("subscriber_id")
        .values_list(
            "subscriber__email",
            "state",
            "attempts",
            "sent_at",
            "message_id",
            "last_error",
            "expired_claims",
            "next_attempt_at",
        )
    )
    for email, state, attempts, sent_at, message_id, error, expired, next_at in rows.iterator(
        chunk_size=chunk_size
    ):
        yield [
            email or "",
            state,
            str(attempts),
            _iso(sent_at),
            message_id,
            error,
            "yes" if expired else "",
            _iso(next_at),
        ]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
