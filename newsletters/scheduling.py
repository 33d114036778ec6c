"""When a digest goes out: scheduling, sending now, the two-person rule, unscheduling.

State changes are conditional UPDATEs, so a double click, two editors or a beat tick that claims
the digest at the same moment can never leave it in two states at once.

The two-person rule (a list's `requires_second_approval`): scheduling or "send now" asks for
approval instead (draft → awaiting approval); a Publisher other than the one who asked approves it
(→ scheduled, at the time asked for, or at once if that time has passed). Every route to
"scheduled" — admin, API, recurring editions — goes through `digest_schedule`, so none skips it.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import dateformat, timezone
from django.utils.translation import gettext

from mailinglist.zones import zone_or_utc
from newsletters.checks import digest_problems
from newsletters.models import Digest

State = Digest.State
# States from which a digest may be (re)scheduled: its content can still change.
SCHEDULABLE = [State.DRAFT, State.AWAITING_APPROVAL, State.SCHEDULED]


class DigestNotReady(Exception):
    """Pre-send checks failed; `problems` says what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DigestStateError(Exception):
    """The digest is not in a state that allows this (it is sending, sent, cancelled…)."""


class ApprovalRefused(Exception):
    """The two-person rule: the person who asked cannot be the one who approves."""


def send_time_label(*, digest: Digest) -> str:
    """ "1 Dec 2026, 06:30 (Europe/London)": the send time in the zone it was scheduled in."""
    if digest.send_at is None:
        return ""
    name = digest.send_zone or digest.mailing_list.default_timezone or "UTC"
    local = digest.send_at.astimezone(zone_or_utc(name))
    return f"{dateformat.format(local, 'j M Y, H:i')} ({name})"


def digest_needs_second_person(*, digest: Digest) -> bool:
    return bool(digest.mailing_list.requires_second_approval)


def digest_is_editable(*, digest: Digest) -> bool:
    """Content may change: before sending, and under the two-person rule only as a draft (what
    the second person approved is what goes out)."""
    if digest_needs_second_person(digest=digest):
        return digest.state == State.DRAFT
    return digest.is_editable


def digest_schedule(
    *, digest_id: int, send_at: datetime, by: User | None, zone: str = ""
) -> Digest:
    """Schedule the digest for `send_at` (a past time means as soon as possible).

    Only a draft, awaiting or scheduled digest, and only when every pre-send check passes. On a
    list with the two-person rule the digest waits for a second Publisher instead. Scheduling an
    edition that needs an editor's approval counts as that approval.
    """
    if timezone.is_naive(send_at):
        raise ValueError("send_at must carry a timezone")  # English: a programming error
    digest = Digest.objects.select_related("edition_of", "mailing_list").get(pk=digest_id)
    if digest.state not in SCHEDULABLE:
        raise DigestStateError(
            # Translators: %(state)s is a digest's state in lower case ("sent", "cancelled").
            gettext("A %(state)s digest cannot be scheduled.")
            % {"state": digest.get_state_display().lower()}
        )
    problems = digest_problems(digest=digest)
    if problems:
        raise DigestNotReady(problems)
    now = timezone.now()
    second_person = digest_needs_second_person(digest=digest)
    target = State.AWAITING_APPROVAL if second_person else State.SCHEDULED
    approval: dict[str, object] = {}
    if target == State.AWAITING_APPROVAL:
        approval = {"approved_by": None, "approved_at": None}
    elif (
        digest.edition_of is not None
        and digest.edition_of.requires_approval
        and digest.approved_at is None
    ):
        approval = {"approved_by": by, "approved_at": now}
    updated = Digest.objects.filter(pk=digest_id, state__in=SCHEDULABLE).update(
        state=target,
        send_at=send_at,
        send_zone=zone or digest.send_zone,
        scheduled_by=by,
        scheduled_at=now,
        updated_at=now,
        **approval,
    )
    if not updated:
        raise DigestStateError(
            gettext("The digest started sending meanwhile; it can no longer be scheduled.")
        )
    return Digest.objects.get(pk=digest_id)


def digest_send_now(*, digest_id: int, by: User | None) -> Digest:
    """Schedule for now and start at once (no wait for the next beat tick).

    The start is a task queued on commit; if Redis loses it, the beat tick (every 15 s) starts
    the digest anyway, since it is scheduled and due. With the two-person rule it waits for
    approval like any other schedule, and goes at once when approved.
    """
    digest = digest_schedule(digest_id=digest_id, send_at=timezone.now(), by=by, zone="")
    if digest.state == State.SCHEDULED:
        _start_soon(digest_id=digest_id)
    return digest


def digest_approve(*, digest_id: int, by: User) -> Digest:
    """The second person's yes: awaiting approval → scheduled (at once if its time has passed)."""
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    if digest.state != State.AWAITING_APPROVAL:
        raise DigestStateError(gettext("Only a digest awaiting approval can be approved."))
    if digest.scheduled_by_id is not None and digest.scheduled_by_id == by.pk:
        raise ApprovalRefused(
            gettext("You asked for this digest to be sent: a second Publisher must approve it.")
        )
    problems = digest_problems(digest=digest)
    if problems:
        raise DigestNotReady(problems)
    now = timezone.now()
    updated = Digest.objects.filter(pk=digest_id, state=State.AWAITING_APPROVAL).update(
        state=State.SCHEDULED, approved_by=by, approved_at=now, updated_at=now
    )
    if not updated:
        raise DigestStateError(gettext("The digest changed meanwhile; reload and try again."))
    digest.refresh_from_db()
    if digest.send_at is not None and digest.send_at <= now:
        _start_soon(digest_id=digest_id)
    return digest


def digest_unschedule(*, digest_id: int, by: User | None) -> Digest:
    """Back to draft (from scheduled, or from awaiting approval: a rejection), if not started."""
    updated = Digest.objects.filter(
        pk=digest_id, state__in=[State.SCHEDULED, State.AWAITING_APPROVAL]
    ).update(
        state=State.DRAFT,
        scheduled_by=None,
        scheduled_at=None,
        approved_by=None,
        approved_at=None,
        updated_at=timezone.now(),
    )
    digest = Digest.objects.get(pk=digest_id)
    if not updated and digest.state != State.DRAFT:
        raise DigestStateError(
            # Translators: %(state)s is a digest's state in lower case ("sent", "cancelled").
            gettext("A %(state)s digest cannot be unscheduled.")
            % {"state": digest.get_state_display().lower()}
        )
    return digest


def _start_soon(*, digest_id: int) -> None:
    from newsletters.tasks import start_digest

    transaction.on_commit(lambda: start_digest.delay(digest_id))
