"""The time-to-go estimate: a steady send's ETA half way through is close to the time left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mailinglist.models import Subscriber
from newsletters.delivery import progress
from newsletters.models import Delivery, Digest
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def _steady_send(*, total: int, per_second: float, elapsed: float) -> Digest:
    """A ledger as a send at `per_second` leaves it `elapsed` seconds after it started."""
    now = timezone.now()
    digest = make_digest(stories=1)
    Subscriber.objects.bulk_create(Subscriber(email=f"eta{n}@example.com") for n in range(total))
    readers = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))
    sent = int(per_second * elapsed)
    Delivery.objects.bulk_create(
        Delivery(
            digest=digest,
            subscriber_id=reader,
            state="sent" if n < sent else "pending",
            # The n-th message left n / rate seconds after the start.
            sent_at=now - timedelta(seconds=elapsed - n / per_second) if n < sent else None,
        )
        for n, reader in enumerate(readers)
    )
    Digest.objects.filter(pk=digest.pk).update(
        state=Digest.State.SENDING, snapshot_at=now - timedelta(seconds=elapsed)
    )
    digest.refresh_from_db()
    return digest


@pytest.mark.parametrize(
    ("total", "per_second"),
    [(2000, 10.0), (600, 3.0), (3000, 25.0)],
)
def test_half_way_through_a_steady_send_the_eta_is_within_a_fifth_of_the_time_left(
    total: int, per_second: float
) -> None:
    duration = total / per_second
    digest = _steady_send(total=total, per_second=per_second, elapsed=duration / 2)

    rate = progress.digest_send_rate(digest_id=digest.pk, started_at=digest.snapshot_at)
    eta = progress.digest_eta_seconds(counts=progress.digest_counts(digest_id=digest.pk), rate=rate)

    actually_left = duration / 2
    assert eta is not None
    assert abs(eta - actually_left) <= 0.2 * actually_left


def test_in_a_sends_first_seconds_the_rate_is_not_understated() -> None:
    # 20 s in at 5/s: 100 sent. Over a full minute's window that would read 1.7/s and an ETA
    # three times too long; the window is the send's own 20 s.
    digest = _steady_send(total=1000, per_second=5.0, elapsed=20)

    rate = progress.digest_send_rate(digest_id=digest.pk, started_at=digest.snapshot_at)

    assert rate == pytest.approx(5.0, rel=0.1)


def test_nothing_owed_is_no_time_and_nothing_moving_is_unknown() -> None:
    counts = {"pending": 0, "sending": 0, "sent": 5, "failed": 0, "skipped": 0, "total": 5}
    stuck = {**counts, "pending": 5, "sent": 0}

    assert progress.digest_eta_seconds(counts=counts, rate=0.0) == 0.0
    assert progress.digest_eta_seconds(counts=stuck, rate=0.0) is None
