"""Whose link it is: the unsubscribe and preference links a reader follows from mail.

Two formats reach these pages. A digest message's links carry a slice of the message's one MAC
(message_tokens: <public id>.<list>.<digest>.<day>.<slice>); transactional mail, the pages
themselves and all mail sent before carry a django.core.signing token per purpose (tokens.py,
with ':' in it). Both are read here, and mail already sent keeps working: unsubscribe links
forever, preference links for PREFERENCES_LIFETIME.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailinglist import links, message_tokens, tokens
from mailinglist.models import MailingList, Subscriber


@dataclass(frozen=True)
class UnsubscribeLink:
    """The reader and list an unsubscribe link names (None: erased or deleted since), and the
    digest it came from (None: not from a digest, or not said)."""

    subscriber: Subscriber | None
    mailing_list: MailingList | None
    from_digest: int | None


def _reader(public_id: str) -> Subscriber | None:
    return Subscriber.objects.filter(public_id=public_id).first()


def _list(list_id: int) -> MailingList | None:
    return MailingList.objects.filter(pk=list_id).first()


def unsubscribe_link_read(*, token: str, digest_param: str | None) -> UnsubscribeLink:
    """Who and what `token` unsubscribes; raises tokens.TokenInvalid if it is not genuine.

    `digest_param` is the link's unsigned ?digest=, which only an old-format link needs: a digest
    message's token names its digest under the MAC.
    """
    if not message_tokens.is_web_token(token):
        data = tokens.unsubscribe_token_read(token)
        return UnsubscribeLink(
            subscriber=_reader(data.public_id),
            mailing_list=MailingList.objects.filter(pk__in=data.list_ids).first(),
            from_digest=links.digest_ref_read(digest_param),
        )
    found = message_tokens.web_token_read(token)
    if found is None:
        raise tokens.TokenInvalid("not an unsubscribe link")
    subscriber = _reader(found.public_id)
    if subscriber is None:
        # Erased since (or a test send's stand-in, who never existed): there is no key to check
        # the MAC against, and nothing to unsubscribe, so the calm "unsubscribed" answer, and
        # nothing from the unchecked link is shown or recorded.
        return UnsubscribeLink(subscriber=None, mailing_list=None, from_digest=None)
    is_genuine = message_tokens.slice_verify(
        purpose="unsubscribe",
        subscriber_id=subscriber.pk,
        list_id=found.list_id,
        digest_id=found.digest_id,
        day=found.day,
        mac=found.mac,
    )
    if not is_genuine:
        raise tokens.TokenInvalid("unsubscribe link does not verify")
    return UnsubscribeLink(
        subscriber=subscriber,
        mailing_list=_list(found.list_id),
        from_digest=found.digest_id or None,
    )


def preferences_link_read(*, token: str) -> Subscriber | None:
    """The reader whose preference centre `token` opens, or None (not genuine, expired, or the
    reader is gone)."""
    if not message_tokens.is_web_token(token):
        try:
            data = tokens.preferences_token_read(token)
        except (tokens.TokenInvalid, tokens.TokenExpired):
            return None
        return _reader(data.public_id)
    found = message_tokens.web_token_read(token)
    if found is None:
        return None
    if message_tokens.today() - found.day > tokens.PREFERENCES_LIFETIME.days:
        return None
    subscriber = _reader(found.public_id)
    if subscriber is None:
        return None
    is_genuine = message_tokens.slice_verify(
        purpose="preferences",
        subscriber_id=subscriber.pk,
        list_id=found.list_id,
        digest_id=found.digest_id,
        day=found.day,
        mac=found.mac,
    )
    return subscriber if is_genuine else None
