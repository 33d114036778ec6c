"""factory_boy factories for the suite: one per model, valid by default, overridable by keyword."""

from __future__ import annotations

import io
from datetime import time

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from mailinglist.models import MailingList, Subscriber, Subscription
from newsletters.models import Digest, DigestStory, EditionSchedule, Feed, Story


class MailingListFactory(factory.django.DjangoModelFactory[MailingList]):
    class Meta:
        model = MailingList
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Newsletter {n}")
    slug = factory.Sequence(lambda n: f"newsletter-{n}")
    description = "News you can use."
    is_public = True


class SubscriberFactory(factory.django.DjangoModelFactory[Subscriber]):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    name = ""


class SubscriptionFactory(factory.django.DjangoModelFactory[Subscription]):
    """An active, confirmed subscription unless told otherwise."""

    class Meta:
        model = Subscription

    subscriber = factory.SubFactory(SubscriberFactory)
    mailing_list = factory.SubFactory(MailingListFactory)
    state = Subscription.State.ACTIVE
    source = Subscription.Source.FORM
    requested_at = factory.LazyFunction(timezone.now)
    confirmed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.state != Subscription.State.PENDING else None
    )


# --- Content -----------------------------------------------------------------------------------


class FeedFactory(factory.django.DjangoModelFactory[Feed]):
    """An active feed, due at once (never polled)."""

    class Meta:
        model = Feed

    url = factory.Sequence(lambda n: f"https://news.example/feeds/{n}.xml")
    title = factory.Sequence(lambda n: f"Feed {n}")
    section = "News"


class StoryFactory(factory.django.DjangoModelFactory[Story]):
    class Meta:
        model = Story

    headline = factory.Sequence(lambda n: f"Story number {n}")
    url = factory.Sequence(lambda n: f"https://news.example/stories/{n}")
    summary = "<p>What happened, in one line.</p>"
    section = "News"
    published_at = factory.LazyFunction(timezone.now)
    source = Story.Source.ADMIN


class DigestFactory(factory.django.DjangoModelFactory[Digest]):
    """A draft digest with a subject and no stories."""

    class Meta:
        model = Digest

    mailing_list = factory.SubFactory(MailingListFactory)
    subject = factory.Sequence(lambda n: f"Digest {n}: the day's news")
    state = Digest.State.DRAFT


class DigestStoryFactory(factory.django.DjangoModelFactory[DigestStory]):
    class Meta:
        model = DigestStory

    digest = factory.SubFactory(DigestFactory)
    story = factory.SubFactory(StoryFactory)
    position = factory.Sequence(lambda n: n + 1)


class EditionScheduleFactory(factory.django.DjangoModelFactory[EditionSchedule]):
    """Every day at 06:30 London time, eight stories, no approval, composed an hour ahead."""

    class Meta:
        model = EditionSchedule

    mailing_list = factory.SubFactory(MailingListFactory)
    days_of_week = factory.LazyFunction(lambda: [1, 2, 3, 4, 5, 6, 7])
    local_time = time(6, 30)
    timezone = "Europe/London"
    story_count = 8
    lead_minutes = 60


def logo_png(width: int, height: int) -> SimpleUploadedFile:
    """A dark PNG of that size, as a list's logo upload (a dark logo tests dark mode too)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#1a1a1a").save(buffer, format="PNG")
    return SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")
