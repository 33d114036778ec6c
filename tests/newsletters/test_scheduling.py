"""Pre-send checks and scheduling: a digest that is not ready cannot be scheduled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from newsletters import checks, scheduling
from newsletters.delivery import dispatch
from newsletters.models import Digest, DigestStory, Story
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
State = Digest.State


def test_a_complete_digest_passes_every_check() -> None:
    results = checks.digest_checks(digest=make_digest(stories=3))

    assert [c.name for c in results] == [
        "subject",
        "stories",
        "links",
        "image_alt",
        "size",
        "unsubscribe",
        "dkim",
    ]
    blocking = [c.message for c in results if not c.ok and not c.is_warning]
    assert not blocking, blocking


def test_each_failing_check_says_what_to_fix() -> None:
    digest = make_digest(stories=0, subject="  ", intro='<p><a href="/relative">see</a></p>')
    story = Story.objects.create(
        headline="No alt",
        url="https://news.example.com/x",
        image_url="https://img.example.com/x.jpg",
    )
    DigestStory.objects.create(digest=digest, story=story, position=1)
    digest.items.all().delete()

    problems = checks.digest_problems(digest=digest)

    assert "Write a subject." in problems
    assert "Add at least one story." in problems
    assert any(p.startswith("Fix these links") and "/relative" in p for p in problems)


def test_images_without_alt_text_block_scheduling() -> None:
    digest = make_digest(stories=1)
    Story.objects.update(image_url="https://img.example.com/1.jpg", image_alt="")

    problems = checks.digest_problems(digest=digest)

    assert any("alt text" in p and "img.example.com/1.jpg" in p for p in problems)


def test_html_over_100_kb_blocks_scheduling() -> None:
    digest = make_digest(stories=1)
    Story.objects.update(summary="<p>" + ("A long standfirst. " * 40 + "\n") * 180 + "</p>")

    problems = checks.digest_problems(digest=digest)

    assert any("Gmail clips" in p for p in problems)


def test_schedule_and_unschedule(staff_user) -> None:
    digest = make_digest(stories=2)
    send_at = timezone.now() + timedelta(hours=2)

    scheduled = scheduling.digest_schedule(digest_id=digest.pk, send_at=send_at, by=staff_user)
    assert (scheduled.state, scheduled.send_at, scheduled.scheduled_by) == (
        State.SCHEDULED,
        send_at,
        staff_user,
    )

    draft = scheduling.digest_unschedule(digest_id=digest.pk, by=staff_user)
    assert draft.state == State.DRAFT


def test_a_digest_that_fails_its_checks_is_not_scheduled() -> None:
    digest = make_digest(stories=0)

    with pytest.raises(scheduling.DigestNotReady) as refused:
        scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)

    assert "Add at least one story." in refused.value.problems
    digest.refresh_from_db()
    assert digest.state == State.DRAFT


@pytest.mark.parametrize("state", [State.SENDING, State.PAUSED, State.SENT, State.CANCELLED])
def test_only_drafts_and_scheduled_digests_can_be_scheduled(state: str) -> None:
    digest = make_digest(stories=1)
    Digest.objects.filter(pk=digest.pk).update(state=state)

    with pytest.raises(scheduling.DigestStateError):
        scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    with pytest.raises(scheduling.DigestStateError):
        scheduling.digest_unschedule(digest_id=digest.pk, by=None)


def test_naive_send_times_are_refused() -> None:
    digest = make_digest(stories=1)

    with pytest.raises(ValueError, match="timezone"):
        scheduling.digest_schedule(
            digest_id=digest.pk, send_at=timezone.now().replace(tzinfo=None), by=None
        )


def test_an_edition_failing_a_check_stays_a_draft_and_says_why() -> None:
    from datetime import time

    from newsletters import editions
    from newsletters.models import EditionRun, EditionSchedule
    from tests.factories import MailingListFactory

    schedule = EditionSchedule.objects.create(
        mailing_list=MailingListFactory.create(slug="daily", name="Daily"),
        days_of_week=[1, 2, 3, 4, 5, 6, 7],
        local_time=time(6, 30),
        timezone="UTC",
        story_count=3,
    )
    Story.objects.create(
        headline="Pictured, undescribed",
        url="https://news.example.com/pictured",
        image_url="https://img.example.com/p.jpg",
        image_alt="",
        is_featured=True,
        published_at=timezone.now(),
    )
    due = editions.edition_next_due(schedule=schedule, after=timezone.now())
    assert due is not None

    run = editions.edition_prepare(schedule=schedule, due_at=due)

    assert run.outcome == EditionRun.Outcome.CREATED
    assert run.digest is not None
    assert run.digest.state == State.DRAFT
    assert run.reason.startswith("Left as a draft, not scheduled:")
    assert "alt text" in run.reason


# --- The two-person rule -----------------------------------------------------------------------


def _two_person_digest() -> Digest:
    from tests.factories import MailingListFactory

    mailing_list = MailingListFactory.create(slug="careful", requires_second_approval=True)
    return make_digest(stories=1, mailing_list=mailing_list)


def _publisher(name: str):
    from django.contrib.auth.models import User

    return User.objects.create_user(username=name, email=f"{name}@newsroom.example")


def test_with_the_two_person_rule_scheduling_asks_for_approval() -> None:
    digest = _two_person_digest()
    author = _publisher("author")

    asked = scheduling.digest_schedule(
        digest_id=digest.pk, send_at=timezone.now() + timedelta(days=1), by=author
    )

    assert asked.state == Digest.State.AWAITING_APPROVAL
    assert asked.scheduled_by == author and asked.approved_by is None
    # Nothing dispatches a digest that waits for its second person.
    assert dispatch.digests_dispatch_due(now=timezone.now() + timedelta(days=2)) == []


def test_the_person_who_asked_cannot_approve_and_another_can() -> None:
    digest = _two_person_digest()
    author, second = _publisher("author"), _publisher("second")
    scheduling.digest_schedule(
        digest_id=digest.pk, send_at=timezone.now() + timedelta(days=1), by=author
    )

    with pytest.raises(scheduling.ApprovalRefused):
        scheduling.digest_approve(digest_id=digest.pk, by=author)
    approved = scheduling.digest_approve(digest_id=digest.pk, by=second)

    assert approved.state == Digest.State.SCHEDULED
    assert approved.approved_by == second


def test_send_now_on_a_two_person_list_waits_then_starts_when_approved(
    django_capture_on_commit_callbacks,
) -> None:
    digest = _two_person_digest()
    author, second = _publisher("author"), _publisher("second")

    with django_capture_on_commit_callbacks() as asked_callbacks:
        asked = scheduling.digest_send_now(digest_id=digest.pk, by=author)
    with django_capture_on_commit_callbacks() as approved_callbacks:
        scheduling.digest_approve(digest_id=digest.pk, by=second)

    assert asked.state == Digest.State.AWAITING_APPROVAL
    assert asked_callbacks == []  # nothing starts before the second person says yes
    assert len(approved_callbacks) == 1  # the start task, queued when the approval commits


def test_an_edition_on_a_two_person_list_waits_for_approval() -> None:
    from newsletters import editions
    from newsletters.models import EditionRun
    from tests.factories import EditionScheduleFactory

    digest = _two_person_digest()
    schedule = EditionScheduleFactory.create(mailing_list=digest.mailing_list)
    due = timezone.now() + timedelta(minutes=30)

    run = editions.edition_prepare(schedule=schedule, due_at=due)

    assert run.outcome == EditionRun.Outcome.CREATED
    assert run.digest is not None
    assert run.digest.state == Digest.State.AWAITING_APPROVAL
    assert "second Publisher" in run.reason
