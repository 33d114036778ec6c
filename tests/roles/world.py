"""One of everything a staff control acts on, and a snapshot of every row such a control writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Model
from django.utils import timezone

from mailinglist import imports, subscriptions
from mailinglist.models import (
    ConsentEvent,
    ImportJob,
    MailingList,
    SignupRequest,
    Subscriber,
    Subscription,
    Suppression,
)
from newsletters.models import Delivery, Digest, DigestEvent, DigestStory, Feed, Story
from operations.models import ApiToken, MailCheck
from tests.factories import DigestFactory, MailingListFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest

State = Digest.State


@dataclass
class World:
    daily: MailingList
    reader: Subscriber  # active on daily, pending on weekly
    suppression: Suppression
    job: ImportJob  # previewed, not started
    draft: Digest  # with stories that pass the pre-send checks
    scheduled: Digest
    sending: Digest
    paused: Digest
    sent_with_failures: Digest
    story: Story


def world_build() -> World:
    daily = MailingListFactory.create(slug="daily", name="Daily")
    weekly = MailingListFactory.create(slug="weekly", name="Weekly")
    reader = SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="reader@example.com"
    ).subscriber
    SubscriptionFactory.create(
        subscriber=reader, mailing_list=weekly, state=Subscription.State.PENDING
    )
    suppression = subscriptions.suppression_add(
        email="bounced@example.com", reason=Suppression.Reason.BOUNCED
    )
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nnew-reader@example.com\n",
        file_name="people.csv",
        is_consented=False,
        consent_note="",
    )
    imports.import_job_preview(job=job)
    draft = make_digest(stories=2, mailing_list=daily)
    later = timezone.now() + timedelta(days=1)
    sent = DigestFactory.create(mailing_list=daily, state=State.SENT)
    Delivery.objects.create(
        digest=sent, subscriber=reader, state=Delivery.State.FAILED, last_error="550 no"
    )
    return World(
        daily=daily,
        reader=reader,
        suppression=suppression,
        job=job,
        draft=draft,
        scheduled=DigestFactory.create(mailing_list=daily, state=State.SCHEDULED, send_at=later),
        sending=DigestFactory.create(mailing_list=daily, state=State.SENDING),
        paused=DigestFactory.create(mailing_list=daily, state=State.PAUSED),
        sent_with_failures=sent,
        story=draft.items.first().story,  # type: ignore[union-attr]
    )


# Every row a staff control on these pages or the API can write.
WRITTEN_BY_CONTROLS: list[type[Model]] = [
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    ConsentEvent,
    SignupRequest,
    ImportJob,
    MailCheck,
    ApiToken,
    Story,
    Feed,
    Digest,
    DigestStory,
    Delivery,
    DigestEvent,
]


# Bookkeeping that using a token writes, whatever the call then does.
NOT_STATE = {"operations.ApiToken": {"last_used_at"}}


def state_snapshot() -> dict[str, list[dict[str, Any]]]:
    snapshot = {}
    for model in WRITTEN_BY_CONTROLS:
        label = model._meta.label
        skip = NOT_STATE.get(label, set())
        rows = model._default_manager.order_by("pk").values()
        snapshot[label] = [{k: v for k, v in row.items() if k not in skip} for row in rows]
    return snapshot
