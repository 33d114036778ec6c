"""Composing from featured stories: which stories, in what order, and never twice on one list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mailinglist.models import MailingList
from newsletters import composing
from newsletters.composing import DigestLocked
from newsletters.models import Digest, DigestStory, Story
from tests.factories import (
    DigestFactory,
    DigestStoryFactory,
    MailingListFactory,
    StoryFactory,
)

pytestmark = pytest.mark.django_db
State = Digest.State


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


def _featured(hours_ago: float, **fields) -> Story:
    return StoryFactory.create(
        is_featured=True, published_at=timezone.now() - timedelta(hours=hours_ago), **fields
    )


def _sent(mailing_list: MailingList, *stories: Story, hours_ago: float, state=State.SENT) -> Digest:
    digest = DigestFactory.create(
        mailing_list=mailing_list,
        state=state,
        send_at=timezone.now() - timedelta(hours=hours_ago),
    )
    for position, story in enumerate(stories, start=1):
        DigestStoryFactory.create(digest=digest, story=story, position=position)
    return digest


def _headlines(digest: Digest) -> list[str]:
    return [item.story.headline for item in DigestStory.objects.filter(digest=digest)]


# --- featured_stories_for ------------------------------------------------------------------------


def test_only_stories_featured_now_newest_first(daily: MailingList) -> None:
    older = _featured(5, headline="older")
    newer = _featured(1, headline="newer")
    still = _featured(3, headline="featured until tomorrow")
    still.featured_until = timezone.now() + timedelta(days=1)
    still.save()
    _featured(2, headline="featured until an hour ago", featured_until=timezone.now())
    StoryFactory.create(headline="never featured", is_featured=False)

    stories = composing.featured_stories_for(mailing_list=daily, since=None, limit=10)

    assert stories == [newer, still, older]


def test_since_and_limit(daily: MailingList) -> None:
    _featured(30, headline="before the last issue")
    recent = [_featured(hours) for hours in (4, 3, 2, 1)]

    stories = composing.featured_stories_for(
        mailing_list=daily, since=timezone.now() - timedelta(hours=24), limit=3
    )

    assert stories == [recent[3], recent[2], recent[1]]
    assert composing.featured_stories_for(mailing_list=daily, since=None, limit=0) == []


def test_a_story_without_a_publication_date_counts_from_when_it_was_entered(
    daily: MailingList,
) -> None:
    undated = StoryFactory.create(is_featured=True, published_at=None)

    hour_ago = timezone.now() - timedelta(hours=1)
    in_an_hour = timezone.now() + timedelta(hours=1)
    assert composing.featured_stories_for(mailing_list=daily, since=hour_ago, limit=5) == [undated]
    assert composing.featured_stories_for(mailing_list=daily, since=in_an_hour, limit=5) == []


@pytest.mark.parametrize("state", [State.SENT, State.SENDING, State.PAUSED, State.SCHEDULED])
def test_a_story_that_went_or_is_going_out_on_the_list_is_never_offered_again(
    daily: MailingList, state: str
) -> None:
    story = _featured(1)
    _sent(daily, story, hours_ago=0.5, state=state)

    assert composing.featured_stories_for(mailing_list=daily, since=None, limit=5) == []


@pytest.mark.parametrize("state", [State.DRAFT, State.CANCELLED])
def test_a_story_in_a_draft_or_cancelled_digest_is_still_new_to_readers(
    daily: MailingList, state: str
) -> None:
    story = _featured(1)
    _sent(daily, story, hours_ago=0.5, state=state)

    assert composing.featured_stories_for(mailing_list=daily, since=None, limit=5) == [story]


def test_a_story_sent_on_another_list_is_new_to_this_one(daily: MailingList) -> None:
    story = _featured(1)
    _sent(MailingListFactory.create(slug="weekly"), story, hours_ago=0.5)

    assert composing.featured_stories_for(mailing_list=daily, since=None, limit=5) == [story]


def test_a_digest_s_own_stories_are_not_taken_from_itself(daily: MailingList) -> None:
    story = _featured(1)
    scheduled = _sent(daily, story, hours_ago=-2, state=State.SCHEDULED)

    assert composing.featured_stories_for(
        mailing_list=daily, since=None, limit=5, exclude_digest=scheduled
    ) == [story]


# --- last_issue_at -------------------------------------------------------------------------------


def test_the_last_issue_is_the_latest_that_went_out(daily: MailingList) -> None:
    assert composing.last_issue_at(mailing_list=daily) is None
    _sent(daily, hours_ago=1, state=State.DRAFT)
    _sent(daily, hours_ago=-1, state=State.SCHEDULED)
    _sent(daily, hours_ago=2, state=State.CANCELLED)
    assert composing.last_issue_at(mailing_list=daily) is None

    paused = _sent(daily, hours_ago=30, state=State.PAUSED)
    sent = _sent(daily, hours_ago=48, state=State.SENT)
    _sent(MailingListFactory.create(slug="other"), hours_ago=3, state=State.SENT)

    assert composing.last_issue_at(mailing_list=daily) == paused.send_at
    Digest.objects.filter(pk=paused.pk).update(state=State.CANCELLED)
    assert composing.last_issue_at(mailing_list=daily) == sent.send_at


def test_an_issue_without_send_at_counts_from_sent_at(daily: MailingList) -> None:
    finished = timezone.now() - timedelta(hours=5)
    DigestFactory.create(mailing_list=daily, state=State.SENT, send_at=None, sent_at=finished)

    assert composing.last_issue_at(mailing_list=daily) == finished


# --- digest_fill_from_featured -------------------------------------------------------------------


def test_fill_takes_featured_stories_since_the_last_issue_in_order(daily: MailingList) -> None:
    already = _featured(30, headline="sent yesterday")
    _sent(daily, already, hours_ago=24)
    _featured(26, headline="featured before the last issue, never sent")
    _featured(2, headline="expired", featured_until=timezone.now() - timedelta(minutes=1))
    StoryFactory.create(headline="not featured", is_featured=False)
    _featured(3, headline="second")
    _featured(1, headline="first")
    digest = DigestFactory.create(mailing_list=daily)
    DigestStoryFactory.create(digest=digest, story=already, position=1)

    count = composing.digest_fill_from_featured(digest=digest)

    assert count == 2
    assert _headlines(digest) == ["first", "second"]
    positions = DigestStory.objects.filter(digest=digest).values_list("position", flat=True)
    assert list(positions) == [1, 2]


def test_fill_respects_the_limit(daily: MailingList) -> None:
    for hours in range(1, 6):
        _featured(hours, headline=f"{hours} hours old")
    digest = DigestFactory.create(mailing_list=daily)

    assert composing.digest_fill_from_featured(digest=digest, limit=3) == 3
    assert _headlines(digest) == ["1 hours old", "2 hours old", "3 hours old"]


def test_fill_with_nothing_new_keeps_the_editor_s_stories(daily: MailingList) -> None:
    digest = DigestFactory.create(mailing_list=daily)
    DigestStoryFactory.create(digest=digest, story=StoryFactory.create(headline="hand-picked"))

    assert composing.digest_fill_from_featured(digest=digest) == 0
    assert _headlines(digest) == ["hand-picked"]


def test_refilling_a_scheduled_digest_keeps_its_own_featured_stories(daily: MailingList) -> None:
    own = _featured(2, headline="own")
    digest = _sent(daily, own, hours_ago=-3, state=State.SCHEDULED)
    _featured(1, headline="newer")

    assert composing.digest_fill_from_featured(digest=digest) == 2
    assert _headlines(digest) == ["newer", "own"]


@pytest.mark.parametrize("state", [State.SENDING, State.PAUSED, State.SENT, State.CANCELLED])
def test_a_digest_that_is_no_longer_editable_refuses_filling(
    daily: MailingList, state: str
) -> None:
    _featured(1, headline="fresh")
    digest = _sent(daily, StoryFactory.create(headline="what went out"), hours_ago=1, state=state)

    with pytest.raises(DigestLocked, match="only a draft or scheduled digest"):
        composing.digest_fill_from_featured(digest=digest)

    assert _headlines(digest) == ["what went out"]


def test_the_lock_is_checked_on_the_row_not_the_caller_s_copy(daily: MailingList) -> None:
    _featured(1)
    digest = DigestFactory.create(mailing_list=daily, state=State.SCHEDULED)
    # A beat tick claimed it after the editor's page loaded.
    Digest.objects.filter(pk=digest.pk).update(state=State.SENDING)

    with pytest.raises(DigestLocked):
        composing.digest_fill_from_featured(digest=digest)
    assert not DigestStory.objects.filter(digest=digest).exists()
