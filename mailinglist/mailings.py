"""The mail a reader is waiting for: who gets which transactional mail, and what a refusal means.

Each function is what one task does (tasks.py): find the reader again (they may have been erased
or suppressed since the task was queued), pick what is still true to mail, send it, and settle
the server's answer. A refusal for good (5xx) is final and logged, and an address that does not
exist is suppressed as a digest's hard bounce is; anything the server may accept later raises
TransportFailure for the task to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db.models import QuerySet

from mailinglist import emails, links
from mailinglist.models import MailingList, Subscriber, Subscription, Suppression
from mailinglist.preferences import email_ref
from mailinglist.suppressions import is_suppressed, signup_blocked, suppression_add
from mailinglist.tokens import data_purpose_read
from operations.transport import TransportFailure

logger = logging.getLogger(__name__)


def _settled(send: Callable[[], str], *, to: str, what: str, subscriber_id: int) -> str | None:
    """The Message-ID; None if refused for good; TransportFailure if it may go through later."""
    try:
        return send()
    except TransportFailure as failure:
        outcome = failure.outcome
        if not outcome.permanent:
            raise
        logger.warning(
            "The %s for subscriber %s was refused for good: %s", what, subscriber_id, outcome.error
        )
        if outcome.bounce:
            suppression_add(email=to, reason=Suppression.Reason.BOUNCED, note=outcome.error[:200])
        return None


def _lists(*, subscriber: Subscriber, list_ids: list[int], state: str) -> QuerySet[MailingList]:
    return MailingList.objects.filter(
        pk__in=list_ids, subscriptions__subscriber=subscriber, subscriptions__state=state
    )


def confirmation_mail_send(*, subscriber_id: int, list_ids: list[int]) -> str | None:
    """Ask the reader to confirm the lists still pending; nothing if erased or blocked since."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or signup_blocked(email=subscriber.email):
        return None
    lists = list(_lists(subscriber=subscriber, list_ids=list_ids, state=Subscription.State.PENDING))
    if not lists:
        return None
    return _settled(
        lambda: emails.confirmation_send(subscriber=subscriber, lists=lists),
        to=subscriber.email,
        what="confirmation",
        subscriber_id=subscriber_id,
    )


def welcome_mail_send(*, subscriber_id: int, list_ids: list[int]) -> str | None:
    """One welcome for the lists just confirmed and still active; nothing to a suppressed reader."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or is_suppressed(email=subscriber.email):
        return None
    active = _lists(subscriber=subscriber, list_ids=list_ids, state=Subscription.State.ACTIVE)
    # In the order the reader was asked: the first list's sender signs the one welcome.
    lists = sorted(active, key=lambda mailing_list: list_ids.index(mailing_list.pk))
    if not lists:
        return None
    return _settled(
        lambda: emails.welcome_send(subscriber=subscriber, lists=lists),
        to=subscriber.email,
        what="welcome",
        subscriber_id=subscriber_id,
    )


def address_change_mail_send(*, subscriber_id: int, new_email: str) -> str | None:
    """The link that moves the reader to `new_email`, unless that address may not be signed up."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or signup_blocked(email=new_email):
        return None
    change_url = links.address_change_url(
        subscriber=subscriber, new_email=new_email, old_email_ref=email_ref(subscriber.email)
    )
    return _settled(
        lambda: emails.address_change_send(
            subscriber=subscriber, new_email=new_email, change_url=change_url
        ),
        to=new_email,
        what="address change link",
        subscriber_id=subscriber_id,
    )


def address_changed_notice_mail_send(*, subscriber_id: int, old_email: str) -> str | None:
    """Tell the address a reader left that they left it (the task carries it: no row does)."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or is_suppressed(email=old_email):
        return None
    return _settled(
        lambda: emails.address_changed_notice_send(subscriber=subscriber, old_email=old_email),
        to=old_email,
        what="address changed notice",
        subscriber_id=subscriber_id,
    )


def data_link_mail_send(*, subscriber_id: int, purpose: str) -> str | None:
    """A fresh link to the reader's own address that opens their data for `purpose`.

    Made here, when the mail goes, so its hour counts from sending and it names the address it
    is sent to. Nothing goes to an erased or suppressed reader, nor for a purpose we don't know
    (a task from another version of the code).
    """
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or is_suppressed(email=subscriber.email):
        return None
    known = data_purpose_read(purpose)
    if known is None:
        logger.warning("No data link for an unknown purpose %r", purpose)
        return None
    url = links.data_link_url(subscriber=subscriber, purpose=known)
    return _settled(
        lambda: emails.data_link_send(subscriber=subscriber, purpose=known, url=url),
        to=subscriber.email,
        what=f"data {purpose} link",
        subscriber_id=subscriber_id,
    )
