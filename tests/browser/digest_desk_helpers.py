"""What the digest page's browser tests share: the list, stories and readers a digest needs, a
digest in sending with its ledger, and an editor opening its page and pressing its buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from mailinglist.models import MailingList
from newsletters.models import Delivery, Digest, Story
from tests.browser.staff import log_in
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.roles.helpers import PASSWORD


def press(page: Any, name: str) -> None:
    """Press a button that submits a form, and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def morning_list(**fields: Any) -> MailingList:
    return MailingListFactory.create(name="The Morning Briefing", slug="morning", **fields)


def featured_stories(count: int) -> list[Story]:
    return [
        Story.objects.create(
            headline=f"Harbour story {n}",
            url=f"https://news.example.com/harbour-{n}",
            summary="<p>The sea comes back in.</p>",
            published_at=timezone.now() - timedelta(minutes=n),
            is_featured=True,
        )
        for n in range(count)
    ]


def subscribe_readers(mailing_list: MailingList, count: int) -> list[str]:
    return [
        SubscriptionFactory.create(mailing_list=mailing_list).subscriber.email for _ in range(count)
    ]


def open_digest(page: Any, live_server: Any, user: Any, digest: Digest) -> None:
    """Log in as `user` through the login form, landing on `digest`'s page."""
    log_in(
        page,
        live_server.url,
        username=user.username,
        password=PASSWORD,
        next_path=f"newsletters/digest/{digest.pk}/change/",
    )


def desk_text(page: Any) -> str:
    return str(page.locator("#digest-desk").inner_text())


def sending_digest(*, readers: int, sent: int = 0, failed: int = 0) -> Digest:
    """A digest going out, with its ledger; pending rows are not due, so no worker takes them."""
    mailing_list = morning_list()
    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject="Tuesday briefing",
        state=Digest.State.SENDING,
        snapshot_at=timezone.now() - timedelta(minutes=2),
        send_at=timezone.now() - timedelta(minutes=2),
    )
    later = timezone.now() + timedelta(hours=1)
    for n in range(readers):
        state = "sent" if n < sent else "failed" if n < sent + failed else "pending"
        Delivery.objects.create(
            digest=digest,
            subscriber=SubscriberFactory.create(),
            state=state,
            sent_at=timezone.now() if state == "sent" else None,
            next_attempt_at=later if state == "pending" else None,
            last_error="550 no such user" if state == "failed" else "",
        )
    return digest
