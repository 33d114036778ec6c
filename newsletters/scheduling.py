"""When a digest goes out: scheduling and unscheduling, guarded by the pre-send checks.

State changes are conditional UPDATEs, so a double click, two editors or a beat tick that claims
the digest at the same moment can never leave it in two states at once.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from newsletters.checks import digest_problems
from newsletters.models import Digest

State = Digest.State


class DigestNotReady(Exception):
    """Pre-send checks failed; `problems` says what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DigestStateError(Exception):
    """The digest is not in a state that allows this (it is sending, sent, cancelled…)."""


def digest_schedule(*, digest_id: int, send_at: datetime, by: User | None) -> Digest:
    """Schedule the digest for `send_at` (a past time means as soon as possible).

    Only a draft or scheduled digest, and only when every pre-send check passes. Scheduling an
    edition that needs approval counts as the editor's approval.
    """
    if timezone.is_naive(send_at):
        raise ValueError("send_at must carry a timezone")
    digest = Digest.objects.select_related("edition_of").get(pk=digest_id)
    if digest.state not in {State.DRAFT, State.SCHEDULED}:
        raise DigestStateError(
            f"A {digest.get_state_display().lower()} digest cannot be scheduled."
        )
    problems = digest_problems(digest=digest)
    if problems:
        raise DigestNotReady(problems)
    now = timezone.now()
    approval = {}
    if (
        digest.edition_of is not None
        and digest.edition_of.requires_approval
        and digest.approved_at is None
    ):
        approval = {"approved_by": by, "approved_at": now}
    updated = Digest.objects.filter(pk=digest_id, state__in=[State.DRAFT, State.SCHEDULED]).update(
        state=State.SCHEDULED,
        send_at=send_at,
        scheduled_by=by,
        scheduled_at=now,
        updated_at=now,
        **approval,
    )
    if not updated:
        raise DigestStateError(
            "The digest started sending meanwhile; it can no longer be scheduled."
        )
    return Digest.objects.get(pk=digest_id)


def digest_unschedule(*, digest_id: int, by: User | None) -> Digest:
    """Back to draft, if it has not started sending."""
    updated = Digest.objects.filter(pk=digest_id, state=State.SCHEDULED).update(
        state=State.DRAFT, scheduled_by=None, scheduled_at=None, updated_at=timezone.now()
    )
    digest = Digest.objects.get(pk=digest_id)
    if not updated and digest.state != State.DRAFT:
        raise DigestStateError(
            f"A {digest.get_state_display().lower()} digest cannot be unscheduled."
        )
    return digest
