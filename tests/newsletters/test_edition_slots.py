"""When a recurring edition's slot is due: clock changes both ways, skipped and repeated hours,
weekdays in local time, and the rule checked against any zone (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletters.editions import edition_next_due
from newsletters.models import EditionSchedule
from tests.newsletters.editions_helpers import utc

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


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
