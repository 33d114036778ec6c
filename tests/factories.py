"""factory_boy factories for the suite: one per model, valid by default, overridable by keyword."""

from __future__ import annotations

import factory
from django.utils import timezone

from mailinglist.models import MailingList, Subscriber, Subscription


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
