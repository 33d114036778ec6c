"""Ledger retention: old delivery rows become per-digest counts, so the table stays bounded.

A daily digest to a million readers adds a million rows a day. Once a digest is long finished,
who got it one by one no longer matters to anyone; how many did is kept on the digest.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from newsletters.delivery.failure_kinds import failures_by_kind
from newsletters.delivery.figures import digest_ledger_outcomes
from newsletters.delivery.progress import digest_counts, digest_possible_duplicates
from newsletters.models import Delivery, Digest


def deliveries_retain(*, older_than: timedelta | None = None, limit: int = 50) -> int:
    """Summarise and delete the ledger of finished digests older than `older_than`.

    Returns how many digests were summarised. A digest is done one at a time, in its own
    transaction: its counts are written before its rows go, or neither happens.
    """
    age = older_than if older_than is not None else timedelta(days=settings.DELIVERY_RETENTION_DAYS)
    cutoff = timezone.now() - age
    candidates = Digest.objects.filter(
        Q(state=Digest.State.SENT, sent_at__lt=cutoff) | Q(state=Digest.State.CANCELLED),
        retained_counts__isnull=True,
        updated_at__lt=cutoff,
    )
    done = 0
    for digest_id in list(candidates.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            counts = digest_counts(digest_id=digest_id)
            counts["possible_duplicates"] = digest_possible_duplicates(digest_id=digest_id)
            # Hard bounces and complaints are known only from the rows: kept for the rates.
            counts.update(digest_ledger_outcomes(digest_id=digest_id))
            # Failures by kind, so the failure counters of /metrics do not move when rows go.
            kept = {**counts, "failed_kinds": failures_by_kind(digest_ids=[digest_id])}
            Digest.objects.filter(pk=digest_id).update(retained_counts=kept)
            Delivery.objects.filter(digest_id=digest_id).delete()
        done += 1
    return done
