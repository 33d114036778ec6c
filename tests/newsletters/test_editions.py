"""Recurring editions: when each slot is due (DST included), and composing it once, ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import QuerySet
from hypothesis import given, settings
from hypothesis import strategies as st

from mailinglist.models import MailingList
from newsletters import editions
from newsletters.editions import edition_next_due
from newsletters.models import Digest, DigestStory, EditionRun, EditionSchedule, Story
from tests.factories import (
    DigestFactory,
    DigestStoryFactory,
    EditionScheduleFactory,
    MailingListFactory,
    StoryFactory,
)

State = Digest.State
Outcome = EditionRun.Outcome
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
JUNE_3 = datetime(2025, 6, 3, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _rule(at: time, zone: str, days: list[int] | None = None) -> EditionSchedule:
    # edition_next_due reads fields only: an unsaved schedule needs no database.
    return EditionSchedule(local_time=at, timezone=zone, days_of_week=days or EVERY_DAY)


# --- When a slot is due --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "at", "after", "expected"),
    [
        # Europe/London goes forward at 01:00 UTC on Sunday 30 March 2025 (GMT → BST) …
        ("Europe/London", time(6, 30), utc(2025, 3, 28, 12), utc(2025, 3, 29, 6, 30)),
        ("Europe/London", time(6, 30), utc(2025, 3, 29, 6, 30), utc(2025, 3, 30, 5, 30)),
        # … and back at 01:00 UTC on Sunday 26 October 2025 (BST → GMT).
        ("Europe/London", time(6, 30), utc(2025, 10, 24, 12), utc(2025, 10, 25, 5, 30)),
        ("Europe/London", time(6, 30), utc(2025, 10, 25, 5, 30), utc(2025, 10, 26, 6, 30)),
        # America/New_York goes forward at 07:00 UTC on Sunday 9 March 2025 (EST → EDT) …
        ("America/New_York", time(7, 0), utc(2025, 3, 7, 18), utc(2025, 3, 8, 12)),
        ("America/New_York", time(7, 0), utc(2025, 3, 8, 12), utc(2025, 3, 9, 11)),
        # … and back at 06:00 UTC on Sunday 2 November 2025 (EDT → EST).
        ("America/New_York", time(7, 0), utc(2025, 10, 31, 18), utc(2025, 11, 1, 11)),
        ("America/New_York", time(7, 0), utc(2025, 11, 1, 11), utc(2025, 11, 2, 12)),
    ],
)
def test_slots_either_side_of_a_clock_change_keep_their_local_time(
    zone: str, at: time, after: datetime, expected: datetime
) -> None:
    assert edition_next_due(schedule=_rule(at, zone), after=after) == expected


@pytest.mark.parametrize(
    ("zone", "at", "day", "expected"),
    [
        # 01:00 to 02:00 does not exist in London that morning: 01:30 goes out at 02:00 BST.
        ("Europe/London", time(1, 30), utc(2025, 3, 29, 12), utc(2025, 3, 30, 1)),
        ("Europe/London", time(1, 0), utc(2025, 3, 29, 12), utc(2025, 3, 30, 1)),
        # 02:00 to 03:00 does not exist in New York: 02:30 goes out at 03:00 EDT.
        ("America/New_York", time(2, 30), utc(2025, 3, 8, 12), utc(2025, 3, 9, 7)),
        ("America/New_York", time(2, 59, 59), utc(2025, 3, 8, 12), utc(2025, 3, 9, 7)),
    ],
)
def test_a_time_the_clocks_skip_goes_out_when_they_land(
    zone: str, at: time, day: datetime, expected: datetime
) -> None:
    schedule = _rule(at, zone)
    due = edition_next_due(schedule=schedule, after=day)

    assert due == expected
    # The next day is back to normal: the configured wall-clock time exactly.
    following = edition_next_due(schedule=schedule, after=expected)
    assert following is not None
    assert following.astimezone(ZoneInfo(zone)).time() == at


@pytest.mark.parametrize(
    ("zone", "at", "first", "next_day"),
    [
        # 01:30 happens twice in London on 26 October 2025: 00:30 UTC (BST) and 01:30 UTC (GMT).
        ("Europe/London", time(1, 30), utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)),
        # 01:30 happens twice in New York on 2 November 2025: 05:30 UTC (EDT) and 06:30 UTC (EST).
        ("America/New_York", time(1, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)),
    ],
)
def test_a_time_that_happens_twice_goes_out_once_at_the_first(
    zone: str, at: time, first: datetime, next_day: datetime
) -> None:
    schedule = _rule(at, zone)

    assert edition_next_due(schedule=schedule, after=first - timedelta(hours=3)) == first
    # Not again an hour later, when the clock shows the same time a second time.
    assert edition_next_due(schedule=schedule, after=first) == next_day


def test_only_the_ticked_weekdays() -> None:
    schedule = _rule(time(8, 0), "Europe/London", [1, 3, 5])  # Monday, Wednesday, Friday
    slots, after = [], utc(2025, 6, 3, 9)  # a Tuesday
    for _ in range(3):
        due = edition_next_due(schedule=schedule, after=after)
        assert due is not None
        slots.append(due)
        after = due

    assert slots == [  # Wednesday, Friday, Monday
        utc(2025, 6, 4, 7),
        utc(2025, 6, 6, 7),
        utc(2025, 6, 9, 7),
    ]


def test_the_local_date_decides_the_weekday_not_utc() -> None:
    # 23:30 on Monday in New York is already Tuesday in UTC.
    schedule = _rule(time(23, 30), "America/New_York", [1])
    due = edition_next_due(schedule=schedule, after=utc(2025, 6, 1))

    assert due == utc(2025, 6, 3, 3, 30)


@pytest.mark.parametrize(
    ("days", "zone"),
    [([], "Europe/London"), ([0, 8, "1", True], "Europe/London"), ([1], "Mars/Olympus_Mons")],
)
def test_no_slot_without_a_weekday_or_a_real_timezone(days: list[object], zone: str) -> None:
    schedule = EditionSchedule(local_time=time(6, 0), timezone=zone, days_of_week=days)

    assert edition_next_due(schedule=schedule, after=utc(2025, 1, 1)) is None


ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Dublin",  # "negative" DST in the tz database
    "America/New_York",
    "America/Sao_Paulo",  # used to go forward at midnight
    "America/St_Johns",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Africa/Casablanca",
]


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    days=st.sets(st.integers(min_value=1, max_value=7), min_size=1),
    at=st.times(),
    after=st.datetimes(
        min_value=datetime(1975, 1, 1), max_value=datetime(2070, 1, 1), timezones=st.just(UTC)
    ),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_the_next_slot_is_the_first_allowed_local_time_after(
    zone_name: str, days: set[int], at: time, after: datetime, fraction: float
) -> None:
    zone = ZoneInfo(zone_name)
    schedule = _rule(at, zone_name, sorted(days))

    due = edition_next_due(schedule=schedule, after=after)

    assert due is not None
    assert due > after
    assert due.utcoffset() == timedelta(0)
    local = due.astimezone(zone)
    if local.time() == at and local.fold == 0:
        assert local.isoweekday() in days
    else:
        # Only a time the clocks skipped: the slot is the instant they jumped, and the skipped
        # wall-clock time lies inside the jump on an allowed day.
        just_before = (due - timedelta(seconds=1)).astimezone(zone)
        assert just_before.utcoffset() != local.utcoffset()
        start, end = just_before.replace(tzinfo=None), local.replace(tzinfo=None)
        assert any(
            (start.date() + timedelta(days=n)).isoweekday() in days
            and start < datetime.combine(start.date() + timedelta(days=n), at) < end
            for n in range((end.date() - start.date()).days + 1)
        )
    # Nothing was skipped: from anywhere in between, the next slot is still this one …
    probe = min(after + (due - after) * fraction, due - timedelta(microseconds=1))
    assert edition_next_due(schedule=schedule, after=probe) == due
    # … and no allowed day in between had a slot of its own.
    day = after.astimezone(zone).date() - timedelta(days=1)
    while day <= local.date():
        wall = datetime.combine(day, at)
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
        if day.isoweekday() in days and instant.astimezone(zone).replace(tzinfo=None) == wall:
            assert not after < instant < due
        day += timedelta(days=1)


# --- Preparing editions --------------------------------------------------------------------------


@pytest.fixture
def morning(db: None) -> MailingList:
    return MailingListFactory.create(slug="morning", name="The Morning Briefing")


def _schedule(
    mailing_list: MailingList, *, created_at: datetime = JUNE_3, **fields
) -> EditionSchedule:
    """Every day at 06:30 London (05:30 UTC in June), created at midnight UTC on 3 June 2025
    unless told otherwise: earlier slots are before its time, so never "missed"."""
    schedule = EditionScheduleFactory.create(mailing_list=mailing_list, **fields)
    # created_at is set to "now" on insert; these tests live in 2025.
    EditionSchedule.objects.filter(pk=schedule.pk).update(created_at=created_at)
    schedule.refresh_from_db()
    return schedule


def _story(published: datetime, **fields) -> Story:
    return StoryFactory.create(is_featured=True, published_at=published, **fields)


def _runs(schedule: EditionSchedule) -> QuerySet[EditionRun]:
    return EditionRun.objects.filter(schedule=schedule).order_by("due_at")


def _headlines(digest: Digest) -> list[str]:
    return [item.story.headline for item in DigestStory.objects.filter(digest=digest)]


def test_an_edition_is_composed_within_its_lead_time_and_scheduled(morning: MailingList) -> None:
    schedule = _schedule(morning, story_count=2, lead_minutes=60)
    _story(utc(2025, 6, 2, 22), headline="third")
    _story(utc(2025, 6, 2, 23), headline="second")
    _story(utc(2025, 6, 3, 4), headline="first")

    assert editions.editions_prepare_due(now=utc(2025, 6, 3, 4, 29)) == []  # 61 minutes ahead
    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 4, 30))

    assert run.outcome == Outcome.CREATED
    assert run.due_at == utc(2025, 6, 3, 5, 30)  # 06:30 BST
    digest = run.digest
    assert digest is not None
    assert run.reason == ""
    assert digest.state == State.SCHEDULED
    assert digest.send_at == run.due_at
    assert (digest.edition_of, digest.edition_due_at) == (schedule, run.due_at)
    assert digest.subject == "The Morning Briefing — Tuesday 3 June"
    assert _headlines(digest) == ["first", "second"]
    assert list(digest.items.values_list("position", flat=True)) == [1, 2]


def test_an_edition_that_needs_approval_waits_as_a_draft(morning: MailingList) -> None:
    _schedule(morning, requires_approval=True)
    _story(utc(2025, 6, 3, 4))

    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert run.digest is not None
    assert run.digest.state == State.DRAFT
    assert run.digest.scheduled_at is None


def test_the_subject_uses_the_local_date(morning: MailingList) -> None:
    # 23:30 on Monday in New York is 03:30 UTC on Tuesday.
    schedule = _schedule(
        morning, local_time=time(23, 30), timezone="America/New_York", subject_template="{date}"
    )

    assert editions.edition_subject(schedule=schedule, due_at=utc(2025, 6, 3, 3, 30)) == (
        "Monday 2 June"
    )
    schedule.subject_template = "{list}: {nothing} {"
    assert editions.edition_subject(schedule=schedule, due_at=utc(2025, 6, 3, 3, 30)) == (
        "The Morning Briefing: {nothing} {"
    )


def test_preparing_twice_makes_one_digest_per_slot(morning: MailingList) -> None:
    schedule = _schedule(morning)
    _story(utc(2025, 6, 3, 4))
    now = utc(2025, 6, 3, 5)

    first = editions.editions_prepare_due(now=now)
    again = editions.editions_prepare_due(now=now + timedelta(minutes=1))

    assert len(first) == 1
    assert again == []
    assert Digest.objects.filter(edition_of=schedule).count() == 1
    assert editions.edition_prepare(schedule=schedule, due_at=first[0].due_at) == first[0]
    assert _runs(schedule).count() == 1


def test_a_slot_prepared_by_someone_else_meanwhile_returns_their_run(
    morning: MailingList, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = _schedule(morning)
    _story(utc(2025, 6, 3, 4))
    due = utc(2025, 6, 3, 5, 30)
    theirs = EditionRun.objects.create(
        schedule=schedule, due_at=due, outcome=Outcome.SKIPPED, reason="the other tick"
    )
    # As if the other tick's row appeared just after this one looked for it.
    real_first = QuerySet.first
    looked: list[bool] = []

    def first_misses_once(self: QuerySet[EditionRun]) -> EditionRun | None:
        if self.model is EditionRun and not looked:
            looked.append(True)
            return None
        return real_first(self)

    monkeypatch.setattr(QuerySet, "first", first_misses_once)

    assert editions.edition_prepare(schedule=schedule, due_at=due) == theirs
    assert not Digest.objects.filter(edition_of=schedule).exists()


def test_a_story_already_sent_or_scheduled_on_the_list_is_never_repeated(
    morning: MailingList,
) -> None:
    _schedule(morning)
    sent = _story(utc(2025, 6, 3, 1), headline="sent")
    booked = _story(utc(2025, 6, 3, 2), headline="in a scheduled digest")
    fresh = _story(utc(2025, 6, 3, 3), headline="fresh")
    previous = DigestFactory.create(
        mailing_list=morning, state=State.SENT, send_at=utc(2025, 6, 2, 5, 30)
    )
    DigestStoryFactory.create(digest=previous, story=sent)
    upcoming = DigestFactory.create(
        mailing_list=morning, state=State.SCHEDULED, send_at=utc(2025, 6, 3, 9)
    )
    DigestStoryFactory.create(digest=upcoming, story=booked)
    # The same story went out on another list: irrelevant here.
    elsewhere = DigestFactory.create(state=State.SENT, send_at=utc(2025, 6, 3, 4))
    DigestStoryFactory.create(digest=elsewhere, story=fresh)

    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert run.digest is not None
    assert _headlines(run.digest) == ["fresh"]


def test_with_nothing_new_the_edition_is_skipped_and_says_why(morning: MailingList) -> None:
    schedule = _schedule(morning)
    old = _story(utc(2025, 6, 1, 20), headline="before the last issue, never sent")
    previous = DigestFactory.create(
        mailing_list=morning, state=State.SENT, send_at=utc(2025, 6, 2, 5, 30)
    )
    DigestStoryFactory.create(digest=previous, story=_story(utc(2025, 6, 2, 3)))
    StoryFactory.create(is_featured=False, published_at=utc(2025, 6, 3, 3))

    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert run.outcome == Outcome.SKIPPED
    assert run.digest is None
    assert run.reason == (
        "No featured stories since the last issue on Monday 2 June 2025, 06:30 BST."
    )
    assert not Digest.objects.filter(edition_of=schedule).exists()
    assert old.digests.count() == 0


def test_a_first_edition_with_no_featured_story_is_skipped(morning: MailingList) -> None:
    _schedule(morning)

    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert run.outcome == Outcome.SKIPPED
    assert run.reason == "No featured stories that have not already gone out on this list."


def test_the_repeated_hour_makes_one_edition(morning: MailingList) -> None:
    # 01:30 New York on 2 November 2025 happens at 05:30 and 06:30 UTC; beat ticks all night.
    schedule = _schedule(
        morning,
        local_time=time(1, 30),
        timezone="America/New_York",
        created_at=utc(2025, 11, 2, 2),
    )
    for n in range(4):
        _story(utc(2025, 11, 1, 20 + n))
    tick = utc(2025, 11, 2, 3)
    while tick < utc(2025, 11, 2, 9):
        editions.editions_prepare_due(now=tick)
        tick += timedelta(minutes=1)

    assert list(_runs(schedule).values_list("due_at", flat=True)) == [utc(2025, 11, 2, 5, 30)]
    assert Digest.objects.filter(edition_of=schedule).count() == 1


def test_the_skipped_hour_makes_one_edition_when_the_clocks_land(morning: MailingList) -> None:
    schedule = _schedule(
        morning, local_time=time(1, 30), timezone="Europe/London", created_at=utc(2025, 3, 29, 21)
    )
    _story(utc(2025, 3, 29, 20))
    tick = utc(2025, 3, 29, 22)
    while tick < utc(2025, 3, 30, 4):
        editions.editions_prepare_due(now=tick)
        tick += timedelta(minutes=1)

    (run,) = _runs(schedule)
    assert run.due_at == utc(2025, 3, 30, 1)  # 02:00 BST
    assert run.digest is not None
    assert run.digest.send_at == utc(2025, 3, 30, 1)


def test_editions_either_side_of_the_clock_change(morning: MailingList) -> None:
    schedule = _schedule(morning, lead_minutes=120, created_at=utc(2025, 10, 24))
    for day in (date(2025, 10, 24), date(2025, 10, 25), date(2025, 10, 26), date(2025, 10, 27)):
        _story(datetime.combine(day, time(0, 0), tzinfo=UTC))
        # 05:00 UTC is within two hours of both 06:30 BST (05:30 UTC) and 06:30 GMT (06:30 UTC).
        editions.editions_prepare_due(now=datetime.combine(day, time(5, 0), tzinfo=UTC))

    assert list(_runs(schedule).values_list("due_at", "outcome")) == [
        (utc(2025, 10, 24, 5, 30), Outcome.CREATED),
        (utc(2025, 10, 25, 5, 30), Outcome.CREATED),
        (utc(2025, 10, 26, 6, 30), Outcome.CREATED),
        (utc(2025, 10, 27, 6, 30), Outcome.CREATED),
    ]


def test_a_slot_a_few_minutes_late_is_still_prepared(morning: MailingList) -> None:
    _schedule(morning, lead_minutes=60)
    _story(utc(2025, 6, 3, 4))

    # Beat was down from 04:00 until 40 minutes after the 05:30 UTC slot.
    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 6, 10))

    assert run.outcome == Outcome.CREATED
    assert run.digest is not None
    assert run.digest.send_at == utc(2025, 6, 3, 5, 30)  # in the past: goes out at once


def test_a_slot_long_past_is_recorded_as_missed_not_sent_hours_late(morning: MailingList) -> None:
    schedule = _schedule(morning, lead_minutes=60)
    _story(utc(2025, 6, 3, 4))

    # Beat was down all morning, and for days before that (older slots are not looked at).
    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 3, 9))

    assert run.outcome == Outcome.SKIPPED
    assert run.due_at == utc(2025, 6, 3, 5, 30)
    assert run.reason.startswith("Missed: Tuesday 3 June 2025, 06:30 BST had passed")
    assert not Digest.objects.filter(edition_of=schedule).exists()
    assert _runs(schedule).count() == 1


def test_a_new_schedule_does_not_catch_up_on_slots_before_it_existed(
    morning: MailingList,
) -> None:
    # Created ten minutes after the 05:30 UTC slot: late enough to be prepared, had it existed.
    _schedule(morning, created_at=utc(2025, 6, 3, 5, 40))
    _story(utc(2025, 6, 3, 4))

    assert editions.editions_prepare_due(now=utc(2025, 6, 3, 5, 45)) == []
    (run,) = editions.editions_prepare_due(now=utc(2025, 6, 4, 5))
    assert run.due_at == utc(2025, 6, 4, 5, 30)


def test_inactive_schedules_and_a_broken_one_do_not_stop_the_others(
    morning: MailingList,
) -> None:
    _schedule(MailingListFactory.create(slug="off"), is_active=False)
    _schedule(MailingListFactory.create(slug="broken"), timezone="Nowhere/Atlantis")
    working = _schedule(morning)
    _story(utc(2025, 6, 3, 4))

    runs = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert [run.schedule_id for run in runs] == [working.pk]


def test_an_error_in_one_schedule_is_logged_and_the_others_still_go_out(
    morning: MailingList, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failing = _schedule(MailingListFactory.create(slug="failing"))
    working = _schedule(morning)
    _story(utc(2025, 6, 3, 4))
    real_prepare = editions.edition_prepare

    def prepare(*, schedule: EditionSchedule, due_at: datetime) -> EditionRun:
        if schedule.pk == failing.pk:
            raise RuntimeError("database hiccup")
        return real_prepare(schedule=schedule, due_at=due_at)

    monkeypatch.setattr(editions, "edition_prepare", prepare)

    runs = editions.editions_prepare_due(now=utc(2025, 6, 3, 5))

    assert [run.schedule_id for run in runs] == [working.pk]
    assert f"Could not prepare the editions of schedule {failing.pk}" in caplog.text
