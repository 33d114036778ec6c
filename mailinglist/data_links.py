"""A reader's data behind a link of its own: what "Download my data" and "Erase me" do.

The preference link rides in every digest, and digests get forwarded: whoever holds one may
change the lists or pause them, but must not walk off with the reader's data or delete it. So
those two buttons mail a fresh link to the address itself, which works for
DATA_LINK_MAX_AGE_SECONDS (an hour unless configured) and only while the reader keeps that
address: only someone who reads that mailbox gets in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext, ngettext

from mailinglist import protection, tokens
from mailinglist.models import Subscriber
from mailinglist.preferences import email_ref
from mailinglist.suppressions import is_suppressed


class Asked(StrEnum):
    SENT = "sent"  # a mail with the link is on its way
    RATE_LIMITED = "rate_limited"  # DATA_LINK_LIMIT links this hour already
    UNREACHABLE = "unreachable"  # the address bounced, complained or is blocked: no mail goes


@dataclass(frozen=True)
class DataLinkAsked:
    outcome: Asked
    retry_after_seconds: int = 0


def data_link_request(*, subscriber: Subscriber, purpose: tokens.DataPurpose) -> DataLinkAsked:
    """Mail the reader a fresh link for `purpose`, at most DATA_LINK_LIMIT an hour.

    The holder of the preference link already sees the address, so the answer may say what
    happened (unlike a signup's, which must not tell a stranger anything).
    """
    from mailinglist.tasks import send_data_link

    if is_suppressed(email=subscriber.email):
        return DataLinkAsked(outcome=Asked.UNREACHABLE)
    try:
        protection.data_link_limit_hit(public_id=subscriber.public_id)
    except protection.RateLimited as limited:
        return DataLinkAsked(
            outcome=Asked.RATE_LIMITED, retry_after_seconds=limited.retry_after_seconds
        )
    subscriber_id = subscriber.pk
    transaction.on_commit(lambda: send_data_link.delay(subscriber_id, purpose))
    return DataLinkAsked(outcome=Asked.SENT)


def data_link_lifetime() -> str:
    """How long a data link works, in words for the page and the mail ("an hour")."""
    minutes = max(1, settings.DATA_LINK_MAX_AGE_SECONDS // 60)
    if minutes % 60:
        if minutes == 1:
            return gettext("a minute")
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = minutes // 60
    if hours == 1:
        return gettext("an hour")
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


class Opened(StrEnum):
    OPEN = "open"
    EXPIRED = "expired"  # genuine but older than DATA_LINK_MAX_AGE_SECONDS
    STALE = "stale"  # mailed to an address the reader has since left
    INVALID = "invalid"  # tampered, another purpose's, or its reader erased


@dataclass(frozen=True)
class DataLinkOpened:
    state: Opened
    # Whose link it was; set for OPEN, and for EXPIRED and STALE so a new one can be mailed.
    subscriber: Subscriber | None = None


def data_link_open(*, token: str, purpose: tokens.DataPurpose) -> DataLinkOpened:
    """Whose data a link opens, or why it opens nothing."""
    try:
        data = tokens.data_link_token_read(token, purpose=purpose)
    except tokens.TokenExpired as expired:
        subscriber = Subscriber.objects.filter(public_id=expired.public_id).first()
        if subscriber is None:
            return DataLinkOpened(state=Opened.INVALID)
        return DataLinkOpened(state=Opened.EXPIRED, subscriber=subscriber)
    except tokens.TokenInvalid:
        return DataLinkOpened(state=Opened.INVALID)
    subscriber = Subscriber.objects.filter(public_id=data.public_id).first()
    if subscriber is None:
        return DataLinkOpened(state=Opened.INVALID)
    if email_ref(subscriber.email) != data.email_ref:
        return DataLinkOpened(state=Opened.STALE, subscriber=subscriber)
    return DataLinkOpened(state=Opened.OPEN, subscriber=subscriber)
