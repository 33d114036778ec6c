"""The public archive: sent digests of public lists, exactly as they went out (minus links that
belong to one recipient)."""

from __future__ import annotations

from django.db.models import QuerySet

from newsletters.models import Digest


def archive_digests() -> QuerySet[Digest]:
    """Digests that went out on public lists and have a frozen render, newest first."""
    return (
        Digest.objects.filter(
            state=Digest.State.SENT, mailing_list__is_public=True, rendered_at__isnull=False
        )
        .select_related("mailing_list")
        .order_by("-sent_at", "-id")
    )
