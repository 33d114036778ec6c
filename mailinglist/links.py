"""Absolute links and list headers that every mail to a subscriber carries.

Transactional mail signs a token per link here (tokens.py). A digest's message template takes
the text around the token once (around_token) and signs each reader's links with the message's
one MAC (message_tokens). Their values are plain ASCII without CR/LF, safe to splice into
prepared message bytes.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from mailinglist import tokens
from mailinglist.models import MailingList, Subscriber
from mailinglist.preferences import email_ref
from operations.languages import LANGUAGE_PARAM

ONE_CLICK_POST_BODY = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1
# A digest's unsubscribe links end in ?digest=<id>, so an unsubscribe is attributed to the digest
# it came from. The id is the same for every reader of that digest: newsletters/ writes it into
# the render once (the frozen HTML and text, the List-Unsubscribe header), never per reader. The
# token of a digest message names its digest under the MAC too, and that is what counts; the
# parameter is only read for links sent before, where it is unsigned (a reader who edits it can
# only misattribute their own unsubscribe).
DIGEST_PARAM = "digest"


def in_language(url: str, *, language: str) -> str:
    """`url` opening its page in `language` (operations/languages.py): links in a list's mail
    take the list's. The code is ASCII, safe in prepared message bytes."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{LANGUAGE_PARAM}={language}"


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


@functools.cache
def _around_token(name: str) -> tuple[str, str]:
    # reverse() costs more than signing the token; digests build these links per reader, so the
    # path is resolved once and the token dropped in between.
    marker = "TOKEN-MARKER"
    path = reverse(name, args=[marker])
    before, after = path.split(marker)
    return before, after


def _token_url(*, name: str, token: str) -> str:
    before, after = _around_token(name)
    return f"{settings.SITE_URL}{before}{token}{after}"


def confirm_url(*, subscriber: Subscriber, list_ids: list[int]) -> str:
    token = tokens.confirm_token_make(public_id=subscriber.public_id, list_ids=list_ids)
    return _token_url(name="mailinglist:confirm", token=token)


def unsubscribe_url(*, subscriber: Subscriber, mailing_list: MailingList) -> str:
    token = tokens.unsubscribe_token_make(public_id=subscriber.public_id, list_id=mailing_list.pk)
    return _token_url(name="mailinglist:unsubscribe", token=token)


def preferences_url(*, subscriber: Subscriber) -> str:
    token = tokens.preferences_token_make(public_id=subscriber.public_id)
    return _token_url(name="mailinglist:preferences", token=token)


def around_token(name: str) -> tuple[str, str]:
    """The absolute link of URL `name` as the text before and after its token: a digest message
    template resolves it once for all its readers' tokens (message_tokens.MessageSigner)."""
    before, after = _around_token(name)
    return f"{settings.SITE_URL}{before}", after


def address_change_url(*, subscriber: Subscriber, new_email: str, old_email_ref: str) -> str:
    token = tokens.address_change_token_make(
        public_id=subscriber.public_id, new_email=new_email, old_email_ref=old_email_ref
    )
    return _token_url(name="mailinglist:address_change", token=token)


def data_link_url(*, subscriber: Subscriber, purpose: tokens.DataPurpose) -> str:
    """The link that opens the reader's data for `purpose`, for the address they have now."""
    token = tokens.data_link_token_make(
        purpose=purpose, public_id=subscriber.public_id, email_ref=email_ref(subscriber.email)
    )
    return _token_url(name=f"mailinglist:data_{purpose}", token=token)


def digest_ref_read(raw: str | None) -> int | None:
    """The digest id an unsubscribe link carried, or None if it carried none that could be one."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw) or None


def list_id(*, mailing_list: MailingList) -> str:
    """RFC 2919 List-Id: a phrase and a unique, stable id under our own domain."""
    host = urlsplit(str(settings.SITE_URL)).hostname or "localhost"
    phrase = re.sub(r'[\x00-\x1f\x7f"\\<>]', "", mailing_list.name).strip()
    return f'"{phrase}" <{mailing_list.slug}.{host}>'


def list_headers(*, subscriber: Subscriber, mailing_list: MailingList) -> dict[str, str]:
    """List-Unsubscribe (+ RFC 8058 one-click) and List-Id for one recipient of one list."""
    unsubscribe = unsubscribe_url(subscriber=subscriber, mailing_list=mailing_list)
    return {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": ONE_CLICK_POST_BODY,
        "List-Id": list_id(mailing_list=mailing_list),
    }


def transactional_list_headers(
    *, mailing_list: MailingList, unsubscribe_url: str
) -> dict[str, str]:
    """List-Unsubscribe and List-Id of a reader's transactional mail about one list.

    `unsubscribe_url` is the link the mail's body shows, so header and body agree. No
    List-Unsubscribe-Post: RFC 8058's one-click is for the list's own bulk mail; a mailbox's
    unsubscribe button on a confirmation or a welcome opens the page, which asks once (and for
    a signup still pending, cancels it).
    """
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Id": list_id(mailing_list=mailing_list),
    }
