"""digest_create: the rules a new digest obeys, whoever makes it (API, admin, editions)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from newsletters import scheduling
from newsletters.digests import StoriesMissing, digest_create
from newsletters.editions import edition_prepare
from newsletters.models import Digest, DigestStory, Story
from operations.api_tokens import api_token_issue
from tests.factories import EditionScheduleFactory, MailingListFactory, StoryFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def _story_ids(digest: Digest) -> list[int]:
    return list(digest.items.order_by("position", "id").values_list("story_id", flat=True))


def _positions(digest: Digest) -> list[int]:
    return list(digest.items.order_by("position", "id").values_list("position", flat=True))


def test_stories_are_placed_in_the_order_given_each_once() -> None:
    mailing_list = MailingListFactory.create()
    first, second, third = StoryFactory.create_batch(3)

    digest = digest_create(
        mailing_list=mailing_list,
        subject="Evening",
        stories=[
            third.pk,
            first,
            third,
            second.pk,
        ],  # ids or stories; a repeat keeps its first place
    )

    assert _story_ids(digest) == [third.pk, first.pk, second.pk]
    assert _positions(digest) == [1, 2, 3]
    assert digest.state == Digest.State.DRAFT


def test_unknown_stories_create_nothing() -> None:
    mailing_list = MailingListFactory.create()
    real = StoryFactory.create()

    with pytest.raises(StoriesMissing) as refused:
        digest_create(mailing_list=mailing_list, subject="x", stories=[real.pk, 999998, 999999])

    assert refused.value.missing == [999998, 999999]
    assert not Digest.objects.exists() and not DigestStory.objects.exists()


def test_no_stories_given_means_the_featured_ones_an_empty_list_means_none() -> None:
    mailing_list = MailingListFactory.create()
    featured = StoryFactory.create(is_featured=True)
    StoryFactory.create(is_featured=False)

    filled = digest_create(mailing_list=mailing_list, subject="Filled")
    empty = digest_create(mailing_list=mailing_list, subject="Empty", stories=[])

    assert _story_ids(filled) == [featured.pk]
    assert _story_ids(empty) == []


def test_text_is_cleaned_as_what_it_is() -> None:
    mailing_list = MailingListFactory.create()

    markdown = digest_create(
        mailing_list=mailing_list,
        subject="  Morning\x07   news\n",
        preheader="Ten\x00 stories",
        intro="**Hello**\x00 there",
        stories=[],
    )
    html = digest_create(
        mailing_list=mailing_list,
        subject="Old style",
        intro='<p>Hi <script>alert(1)</script><a href="https://news.example/">here</a></p>',
        intro_format=Digest.IntroFormat.HTML,
        stories=[],
    )

    assert (markdown.subject, markdown.preheader) == ("Morning news", "Ten stories")
    assert markdown.intro == "**Hello**  there"
    assert "<script" not in html.intro and 'href="https://news.example/"' in html.intro
    assert html.intro_format == Digest.IntroFormat.HTML


def test_a_digest_asked_to_be_scheduled_is_created_only_if_it_can_be() -> None:
    mailing_list = MailingListFactory.create()
    send_at = timezone.now() + timedelta(hours=2)

    with pytest.raises(scheduling.DigestNotReady):
        digest_create(
            mailing_list=mailing_list, subject="Nothing", stories=[], send_at=send_at, schedule=True
        )
    assert not Digest.objects.exists()

    stories = list(
        make_digest(stories=2, mailing_list=mailing_list).items.values_list("story_id", flat=True)
    )
    scheduled = digest_create(
        mailing_list=mailing_list, subject="Ready", stories=stories, send_at=send_at, schedule=True
    )
    assert scheduled.state == Digest.State.SCHEDULED
    assert scheduled.send_at == send_at


def test_the_api_creates_through_it(staff_user: User, client: Client) -> None:
    MailingListFactory.create(slug="morning")
    first, second = StoryFactory.create_batch(2)
    auth = {"Authorization": f"Bearer {api_token_issue(user=staff_user)}"}

    response = client.post(
        "/api/v1/digests",
        json.dumps(
            {
                "list": "morning",
                "subject": "Evening\x07 edition",
                "story_ids": [second.pk, first.pk, second.pk],
            }
        ),
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 201
    digest = Digest.objects.get(pk=response.json()["id"])
    assert digest.subject == "Evening edition" and digest.created_by == staff_user
    assert _story_ids(digest) == [second.pk, first.pk] and _positions(digest) == [1, 2]
    assert AuditEntry.objects.filter(action="digest.add", via="api").count() == 1


def test_admins_add_form_creates_through_it_and_keeps_its_inline_and_audit(
    staff_user: User, client: Client
) -> None:
    mailing_list = MailingListFactory.create()
    story = StoryFactory.create()
    client.force_login(staff_user)

    response = client.post(
        "/admin/newsletters/digest/add/",
        {
            "mailing_list": mailing_list.pk,
            "subject": "Morning\x07 news",
            "preheader": "",
            "intro": "Hello\x07 readers",  # NUL the form itself refuses
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-0-position": "1",
            "items-0-story": story.pk,
            "items-0-headline_override": "Our own headline",
            "items-0-summary_override": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    digest = Digest.objects.get()
    assert digest.subject == "Morning news" and digest.intro == "Hello  readers"
    assert digest.created_by == staff_user
    assert list(digest.items.values_list("story_id", "headline_override")) == [
        (story.pk, "Our own headline")
    ]
    entry = AuditEntry.objects.get(action="digest.add")
    assert entry.target_id == str(digest.pk) and entry.via == "admin"
    assert entry.detail.get("related")  # the inline row is on the record too


def test_editions_create_through_it() -> None:
    schedule = EditionScheduleFactory.create(subject_template="{list}\x07  on {date}")
    older, newer = StoryFactory.create_batch(2, is_featured=True)
    Story.objects.filter(pk=older.pk).update(published_at=timezone.now() - timedelta(hours=1))
    due_at = datetime(2030, 1, 7, 6, 30, tzinfo=timezone.get_current_timezone())

    run = edition_prepare(schedule=schedule, due_at=due_at)

    assert run.digest is not None
    assert run.digest.subject == f"{schedule.mailing_list.name} on Monday 7 January"
    assert _story_ids(run.digest) == [newer.pk, older.pk] and _positions(run.digest) == [1, 2]
    assert (run.digest.edition_of, run.digest.edition_due_at) == (schedule, due_at)
