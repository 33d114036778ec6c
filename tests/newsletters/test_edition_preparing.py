"""Preparing recurring editions: composed once per slot, ahead of time, from stories not yet
sent; skipped or missed with a reason; one schedule's trouble never stops the others."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db.models import QuerySet

from mailinglist.models import MailingList
from newsletters import editions
from newsletters.models import Digest, DigestStory, EditionRun, EditionSchedule, Story
from tests.factories import (
    DigestFactory,
    DigestStoryFactory,
    EditionScheduleFactory,
    MailingListFactory,
    StoryFactory,
)
from tests.newsletters.editions_helpers import utc

State = Digest.State
Outcome = EditionRun.Outcome
JUNE_3 = datetime(2025, 6, 3, tzinfo=UTC)


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
