"""A digest's report page: its figures (figures.py), its failures and skips grouped by reason,
and the readers it may have reached twice, lost to an unsubscribe, or who reported it as spam.

The lists are capped at READERS_SHOWN; the counts are always whole. The whole ledger, row by
row, is ledger_export.py's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsletters.delivery.figures import (
    DigestFigures,
    delivery_complaints,
    digest_unsubscribes,
    digests_figures,
)
from newsletters.models import Delivery, Digest

Row = Delivery.State

# Readers listed on a report page (the counts are always whole).
READERS_SHOWN = 200
FAILURE_REASONS_SHOWN = 25


@dataclass(frozen=True)
class FailureReason:
    reason: str  # the server's or ESP's answer, addresses and numbers masked
    count: int


@dataclass(frozen=True)
class ReaderLine:
    subscriber_id: int | None
    email: str
    at: datetime | None
    how: str


@dataclass(frozen=True)
class DigestReport:
    digest: Digest
    figures: DigestFigures
    failure_reasons: list[FailureReason]
    skip_reasons: list[FailureReason]
    duplicates: list[ReaderLine]
    unsubscribed: list[ReaderLine]
    complained: list[ReaderLine]


_ADDRESS = re.compile(r"<?[^\s<>()\[\]\"';,:]+@[^\s<>()\[\]\"';,:]+>?")
_NUMBERISH = re.compile(r"\b(?=[0-9a-fA-F-]*\d)[0-9a-fA-F-]{8,}\b|\b\d{4,}\b")


def failure_reason(error: str) -> str:
    """The reason a message failed, with what differs per message masked, to group by.

    The same refusal from one server differs only in the address and in queue ids; masking them
    groups "550 5.1.1 <ann@x>: user unknown" with "550 5.1.1 <bob@x>: user unknown".
    """
    text = _ADDRESS.sub("<address>", error)
    text = _NUMBERISH.sub("#", text)
    text = " ".join(text.split())
    return (text[:157] + "…") if len(text) > 160 else (text or "no reason recorded")


def _reasons(errors: Iterable[str], *, limit: int) -> list[FailureReason]:
    counted = Counter(failure_reason(error) for error in errors)
    top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]
    rest = sum(counted.values()) - sum(n for _, n in top)
    reasons = [FailureReason(reason, n) for reason, n in top]
    if rest:
        reasons.append(FailureReason("other reasons", rest))
    return reasons


def digest_failure_reasons(*, digest_id: int, state: str = Row.FAILED) -> list[FailureReason]:
    """Failed (or skipped) rows grouped by reason, most frequent first."""
    errors = (
        Delivery.objects.filter(digest_id=digest_id, state=state)
        .values_list("last_error", flat=True)
        .iterator(chunk_size=5000)
    )
    return _reasons(errors, limit=FAILURE_REASONS_SHOWN)


def _reader_lines(rows: Iterable[tuple[Any, ...]], how: str) -> list[ReaderLine]:
    return [
        ReaderLine(subscriber_id=pk, email=email or "", at=at, how=how) for pk, email, at in rows
    ]


def digest_figures(*, digest: Digest) -> DigestFigures:
    """One digest's figures, counted now."""
    return digests_figures(digests=[digest])[digest.pk]


def digest_report(*, digest: Digest) -> DigestReport:
    """Everything the report page shows, counted now (the lists capped at READERS_SHOWN)."""
    figures = digest_figures(digest=digest)
    ledger = Delivery.objects.filter(digest_id=digest.pk)
    duplicates = _reader_lines(
        ledger.filter(expired_claims__gt=0)
        .order_by("subscriber_id")
        .values_list("subscriber_id", "subscriber__email", "sent_at")[:READERS_SHOWN],
        "may have had it twice",
    )
    complained = _reader_lines(
        delivery_complaints(digest_ids=[digest.pk])
        .order_by("subscriber_id")
        .values_list("subscriber_id", "subscriber__email", "sent_at")[:READERS_SHOWN],
        "reported it as spam",
    )
    unsubscribed = [
        ReaderLine(
            subscriber_id=event.subscriber_id,
            email=event.subscriber.email if event.subscriber else "",
            at=event.at,
            how=_how(event.detail),
        )
        for event in digest_unsubscribes(digests=[digest])
        .select_related("subscriber")
        .order_by("-at", "-id")[:READERS_SHOWN]
    ]
    return DigestReport(
        digest=digest,
        figures=figures,
        failure_reasons=digest_failure_reasons(digest_id=digest.pk),
        skip_reasons=digest_failure_reasons(digest_id=digest.pk, state=Row.SKIPPED),
        duplicates=duplicates,
        unsubscribed=unsubscribed,
        complained=complained,
    )


def _how(detail: Any) -> str:
    method = str(detail.get("method", "")) if isinstance(detail, dict) else ""
    return {
        "page": "the unsubscribe link",
        "one-click": "one click in their mail app",
    }.get(method, method or "—")
