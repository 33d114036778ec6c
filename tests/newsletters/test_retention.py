from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mailinglist.models import Subscriber
from newsletters.delivery import progress, retention
from newsletters.models import Delivery, Digest
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


def _finished(days_ago: int, states: list[str]) -> Digest:
    digest = make_digest(stories=1)
    for n, state in enumerate(states):
        subscriber = Subscriber.objects.create(email=f"d{digest.pk}-{n}@example.com")
        Delivery.objects.create(digest=digest, subscriber=subscriber, state=state)
    when = timezone.now() - timedelta(days=days_ago)
    Digest.objects.filter(pk=digest.pk).update(
        state=Digest.State.SENT, sent_at=when, updated_at=when
    )
    return digest


def test_old_ledgers_become_counts_and_recent_ones_stay() -> None:
    old = _finished(40, [Row.SENT, Row.SENT, Row.FAILED, Row.SKIPPED])
    recent = _finished(2, [Row.SENT])
    before = progress.digest_counts(digest_id=old.pk)

    assert retention.deliveries_retain(older_than=timedelta(days=30)) == 1
    assert retention.deliveries_retain(older_than=timedelta(days=30)) == 0  # done once

    assert not Delivery.objects.filter(digest=old).exists()
    assert Delivery.objects.filter(digest=recent).count() == 1
    assert progress.digest_counts(digest_id=old.pk) == before
    assert before == {"pending": 0, "sending": 0, "sent": 2, "failed": 1, "skipped": 1, "total": 4}


def test_a_digest_still_sending_is_never_trimmed() -> None:
    digest = _finished(40, [Row.PENDING])
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)

    assert retention.deliveries_retain(older_than=timedelta(days=30)) == 0
    assert Delivery.objects.filter(digest=digest).count() == 1


def test_hard_bounces_are_kept_for_the_rates_when_the_rows_go() -> None:
    from mailinglist.models import Suppression
    from newsletters.delivery import reports

    digest = _finished(40, [Row.SENT, Row.FAILED, Row.FAILED])
    bounced = Delivery.objects.filter(digest=digest, state=Row.FAILED).first()
    assert bounced is not None
    Suppression.objects.create(
        email_hash=bounced.subscriber.email_hash, reason=Suppression.Reason.BOUNCED
    )
    before = reports.digest_figures(digest=digest)

    retention.deliveries_retain(older_than=timedelta(days=30))

    digest.refresh_from_db()
    assert digest.retained_counts is not None
    assert (digest.retained_counts["bounced"], digest.retained_counts["complained"]) == (1, 0)
    after = reports.digest_figures(digest=digest)
    assert (after.bounced, after.complained) == (before.bounced, before.complained) == (1, 0)
