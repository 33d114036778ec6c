"""Recurring editions: when the next one is due, and composing it ahead of time, once per slot.

When a slot is due. A schedule names weekdays and a wall-clock time in its own timezone; a slot
goes out at the first instant the local clock shows that time (or later) on an allowed day:
- on the day the clocks go forward, a time they skip (01:30 Europe/London on the last Sunday of
  March) goes out when the jump lands (02:00 local), not an hour later and never not at all;
- on the day they go back, a time that happens twice (01:30 America/New_York on the first Sunday
  of November) goes out once, at its first occurrence (fold=0).

When a slot is prepared. Beat calls editions_prepare_due() every minute. A slot is composed once
its send time is within the schedule's lead time (at most MAX_LEAD); EditionRun and Digest both
have one row per slot, so a second tick or a second beat finds it done. A slot already past is
still prepared if it is at most late_limit() late (the lead time, but at least 5 minutes for
beat's jitter and at most an hour): the edition then goes out at once, a little late. An older
slot, up to LOOKBACK back and never one from before the schedule existed, is recorded as skipped
("missed") rather than mailed hours late; anything older is left alone, so a beat that was down
for a week floods nobody and fills no table.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.utils import dateformat, timezone

from mailinglist.zones import MACHINE_ZONES
from newsletters import scheduling
from newsletters.composing import featured_stories_for, last_issue_at
from newsletters.digests import digest_create
from newsletters.models import Digest, EditionRun, EditionSchedule

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)
LATE_LIMIT_MIN = timedelta(minutes=5)
LATE_LIMIT_MAX = timedelta(hours=1)
MAX_LEAD = timedelta(days=1)
# A guard, not a limit anyone should meet: one slot a day and a lead of at most a day make ~3.
MAX_SLOTS_PER_TICK = 16


def zone_load(*, name: str) -> ZoneInfo | None:
    """The IANA timezone called `name`, or None if there is none (never an exception)."""
    if name in MACHINE_ZONES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def schedule_zone(*, schedule: EditionSchedule) -> ZoneInfo | None:
    """The schedule's timezone, or None if its name is not a known IANA zone."""
    return zone_load(name=schedule.timezone)


def schedule_weekdays(*, schedule: EditionSchedule) -> frozenset[int]:
    """The ISO weekdays (1 = Monday … 7 = Sunday) the schedule names, ignoring anything else."""
    days = schedule.days_of_week if isinstance(schedule.days_of_week, list) else []
    return frozenset(
        day for day in days if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7
    )


def edition_next_due(*, schedule: EditionSchedule, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after `after`, in UTC; None if it names no weekday or
    no valid timezone."""
    zone = schedule_zone(schedule=schedule)
    days = schedule_weekdays(schedule=schedule)
    if zone is None or not days:
        return None
    after = after.astimezone(UTC)
    # From the local day before (a slot shifted by a gap may land after midnight) to eight days
    # on: every weekday comes round at least once.
    first_day = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(10):
        day = first_day + timedelta(days=offset)
        if day.isoweekday() not in days:
            continue
        due = _slot_instant(day=day, at=schedule.local_time, zone=zone)
        if due > after:
            return due
    return None  # not reached: some allowed weekday is always within the window


def _slot_instant(*, day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the clock in `zone` shows `at` or later on `day`, in UTC."""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    # fold=0 is the first of the two instants when the clocks go back and the wall time repeats.
    due = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if due.astimezone(zone).replace(tzinfo=None) == wall:
        return due
    # The clocks jumped over `wall`: the two folds straddle the jump (PEP 495); find where it is.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _transition_between(zone=zone, start=min(due, other), end=max(due, other))


def _transition_between(*, zone: ZoneInfo, start: datetime, end: datetime) -> datetime:
    """The instant in (start, end] at which `zone`'s UTC offset changes (to the second)."""
    before = start.astimezone(zone).utcoffset()
    low, high = math.floor(start.timestamp()), math.floor(end.timestamp())
    # Transitions fall on whole seconds, so bisecting whole seconds finds the exact instant.
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def late_limit(*, schedule: EditionSchedule) -> timedelta:
    """How late a slot may still be prepared (and so go out late rather than not at all)."""
    lead = timedelta(minutes=schedule.lead_minutes)
    return min(max(lead, LATE_LIMIT_MIN), LATE_LIMIT_MAX)


def editions_prepare_due(*, now: datetime | None = None) -> list[EditionRun]:
    """Prepare every active schedule's slots that are due within their lead time, each once;
    returns the runs recorded by this call. One broken schedule never stops the others."""
    now = now or timezone.now()
    runs: list[EditionRun] = []
    for schedule in EditionSchedule.objects.filter(is_active=True).select_related("mailing_list"):
        try:
            runs.extend(_schedule_prepare_due(schedule=schedule, now=now))
        except Exception:
            # Logged with its traceback and retried on the next tick; the other lists still go out.
            logger.exception("Could not prepare the editions of schedule %s", schedule.pk)
    return runs


def _schedule_prepare_due(*, schedule: EditionSchedule, now: datetime) -> list[EditionRun]:
    if schedule_zone(schedule=schedule) is None:
        logger.warning(
            "Schedule %s has an unknown timezone %r; no editions", schedule.pk, schedule.timezone
        )
        return []
    horizon = now + min(timedelta(minutes=schedule.lead_minutes), MAX_LEAD)
    cursor = max(now - LOOKBACK, schedule.created_at)
    done = set(
        EditionRun.objects.filter(
            schedule=schedule, due_at__gt=cursor, due_at__lte=horizon
        ).values_list("due_at", flat=True)
    )
    runs: list[EditionRun] = []
    for _ in range(MAX_SLOTS_PER_TICK):
        due = edition_next_due(schedule=schedule, after=cursor)
        if due is None or due > horizon:
            break
        cursor = due
        if due in done:
            continue
        if due < now - late_limit(schedule=schedule):
            runs.append(_edition_missed(schedule=schedule, due_at=due))
        else:
            runs.append(edition_prepare(schedule=schedule, due_at=due))
    return runs


def edition_prepare(*, schedule: EditionSchedule, due_at: datetime) -> EditionRun:
    """The slot's one EditionRun: a digest of the newest featured stories not yet taken on the
    list, or a skip saying why. Calling it again, or at the same time, returns the same run."""
    existing = EditionRun.objects.filter(schedule=schedule, due_at=due_at).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _edition_compose(schedule=schedule, due_at=due_at)
    except IntegrityError:
        # Another tick prepared the slot between our look and our insert: its run stands.
        return EditionRun.objects.get(schedule=schedule, due_at=due_at)


def _edition_compose(*, schedule: EditionSchedule, due_at: datetime) -> EditionRun:
    mailing_list = schedule.mailing_list
    since = last_issue_at(mailing_list=mailing_list)
    stories = featured_stories_for(
        mailing_list=mailing_list,
        since=since,
        limit=schedule.story_count,
        # Still featured when it goes out, not merely when it is composed.
        featured_at=max(timezone.now(), due_at),
    )
    if not stories:
        return EditionRun.objects.create(
            schedule=schedule,
            due_at=due_at,
            outcome=EditionRun.Outcome.SKIPPED,
            reason=_nothing_new_reason(schedule=schedule, since=since),
        )
    # A draft first, scheduled below: unlike the API's, an edition that fails a check is kept.
    digest = digest_create(
        mailing_list=mailing_list,
        subject=edition_subject(schedule=schedule, due_at=due_at),
        stories=stories,
        send_at=due_at,
        edition_of=schedule,
        edition_due_at=due_at,
    )
    reason = "Waiting for an editor's approval." if schedule.requires_approval else ""
    if not schedule.requires_approval:
        # The same gate as an editor's "Schedule": an edition that fails a pre-send check stays
        # a draft, and the run says what to fix.
        try:
            digest = scheduling.digest_schedule(
                digest_id=digest.pk, send_at=due_at, by=None, zone=schedule.timezone
            )
            if digest.state == Digest.State.AWAITING_APPROVAL:
                reason = "Waiting for a second Publisher's approval (two-person rule)."
        except scheduling.DigestNotReady as not_ready:
            reason = "Left as a draft, not scheduled: " + " ".join(not_ready.problems)
    return EditionRun.objects.create(
        schedule=schedule,
        due_at=due_at,
        outcome=EditionRun.Outcome.CREATED,
        reason=reason[:300],
        digest=digest,
    )


def _edition_missed(*, schedule: EditionSchedule, due_at: datetime) -> EditionRun:
    local = _local_label(schedule=schedule, moment=due_at)
    try:
        with transaction.atomic():
            return EditionRun.objects.create(
                schedule=schedule,
                due_at=due_at,
                outcome=EditionRun.Outcome.SKIPPED,
                reason=(
                    f"Missed: {local} had passed before the edition was prepared (beat not "
                    "running, or the schedule was changed or switched on later). Not sent late."
                ),
            )
    except IntegrityError:
        return EditionRun.objects.get(schedule=schedule, due_at=due_at)


def edition_subject(*, schedule: EditionSchedule, due_at: datetime) -> str:
    """The subject from the schedule's template: {list} and {date} (the local send date)."""
    zone = schedule_zone(schedule=schedule) or UTC
    local_date = dateformat.format(due_at.astimezone(zone).date(), "l j F")
    # Plain replacement, not str.format: an editor's stray brace must not break an edition.
    subject = schedule.subject_template.replace("{list}", schedule.mailing_list.name)
    return subject.replace("{date}", local_date)[:200]


def _nothing_new_reason(*, schedule: EditionSchedule, since: datetime | None) -> str:
    if since is None:
        return "No featured stories that have not already gone out on this list."
    last = _local_label(schedule=schedule, moment=since)
    return f"No featured stories since the last issue on {last}."


def _local_label(*, schedule: EditionSchedule, moment: datetime) -> str:
    zone = schedule_zone(schedule=schedule) or UTC
    return dateformat.format(moment.astimezone(zone), "l j F Y, H:i T")
