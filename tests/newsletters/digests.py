"""Builders for digests with real stories, shared by the content tests."""

from __future__ import annotations

from django.utils import timezone

from mailinglist.models import MailingList, Subscriber, Subscription
from newsletters import scheduling
from newsletters.models import Digest, DigestStory, Story
from tests.factories import MailingListFactory


def make_digest(*, stories: int = 10, mailing_list: MailingList | None = None, **fields) -> Digest:
    mailing_list = mailing_list or MailingListFactory.create(
        name="The Morning Briefing", slug="morning"
    )
    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject=fields.pop("subject", "Tuesday: harbour park, rail strike, the week in culture"),
        preheader=fields.pop("preheader", "Ten stories to start your day"),
        intro=fields.pop(
            "intro", "<p>Good morning. Here is <strong>what matters</strong> today.</p>"
        ),
        **fields,
    )
    for n in range(stories):
        story = Story.objects.create(
            headline=f"Story number {n} about the harbour & the city",
            url=f"https://news.example.com/2026/{digest.pk}/story-{n}",
            summary=(
                "<p>Councillors back a plan that lets the sea back in — <em>and</em> pays for "
                "itself.</p>"
            ),
            image_url=f"https://img.example.com/{n}.jpg" if n % 2 == 0 else "",
            image_alt=f"Photo {n}" if n % 2 == 0 else "",
            # As a worker would have read them (story_images.py): the <img> carries a height.
            image_width=1200 if n % 2 == 0 else None,
            image_height=675 if n % 2 == 0 else None,
            section="Cities",
            byline="Amira Okafor",
            published_at=timezone.now(),
            is_featured=True,
        )
        DigestStory.objects.create(digest=digest, story=story, position=n + 1)
    return digest


def sending_digest(
    *,
    readers: int = 0,
    email: str = "reader{n}@example.com",
    stories: int = 1,
    emails: list[str] | None = None,
) -> Digest:
    """A digest in `sending` (scheduled, then claimed) whose list has `readers` active readers,
    not yet snapshot: the state a batch test starts from. `email` is formatted with each `n`;
    `emails` names the readers instead, in the order their rows will have."""
    digest = make_digest(stories=stories)
    if emails is None:
        emails = [email.format(n=n) for n in range(readers)]
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=address, public_id=f"{digest.pk}-{n}") for n, address in enumerate(emails)
    )
    Subscription.objects.bulk_create(
        Subscription(
            subscriber=s, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
        )
        for s in subscribers
    )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)
    return digest
