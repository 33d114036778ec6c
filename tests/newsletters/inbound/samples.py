"""Real-shaped bounce, complaint and unsubscribe mails (mail/*.eml, written for these tests),
filled with a reader's real signed addresses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from mailinglist import message_tokens, return_path
from mailinglist.models import Subscriber
from newsletters.delivery import messages
from newsletters.models import Delivery, Digest
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest

MAIL = Path(__file__).parent / "mail"
BOUNCE_ADDRESS = "bounces@news.example"
HARD_BOUNCES = ("postfix_hard", "exim_hard", "exchange_hard", "gmail_hard", "yahoo_hard")
Row = Delivery.State


@dataclass(frozen=True)
class Sent:
    """A reader's digest message that went out, and the addresses it carried."""

    row: Delivery
    digest: Digest
    subscriber: Subscriber
    return_path: str  # the VERP MAIL FROM
    unsubscribe: str  # the List-Unsubscribe mailto: address (without "mailto:")


def sent(
    *, email: str = "reader@readers-isp.example", other_lists: int = 0, sent_before: bool = False
) -> Sent:
    """A sent row of a digest to one reader, subscribed to its list and `other_lists` more.

    Its addresses are what the send loop writes now (slices of the message's one MAC), or with
    `sent_before` the four-field form digests carried before, which still comes back.
    """
    started = timezone.now() - timedelta(hours=1)
    digest = make_digest(stories=1, state=Digest.State.SENT, snapshot_at=started)
    subscriber = SubscriberFactory.create(email=email)
    lists = [digest.mailing_list]
    lists += [MailingListFactory.create(slug=f"other-{n}") for n in range(other_lists)]
    for mailing_list in lists:
        SubscriptionFactory.create(subscriber=subscriber, mailing_list=mailing_list)
    row = Delivery.objects.create(
        digest=digest,
        subscriber=subscriber,
        state=Row.SENT,
        attempts=1,
        message_id=messages.message_id(digest_id=digest.pk, subscriber=subscriber),
    )
    ids = {
        "subscriber_id": subscriber.pk,
        "digest_id": digest.pk,
        "list_id": digest.mailing_list_id,
    }
    if sent_before:
        mailto = return_path.unsubscribe_mailto(**ids)
        bounce = return_path.bounce_address(**ids)
    else:
        signed = message_tokens.digest_tokens_make(
            public_id=subscriber.public_id, return_paths=True, **ids
        )
        mailto = return_path.mailto_with_token(signed.mailto)
        bounce = return_path.address_with_token(signed.bounce)
    return Sent(
        row=row,
        digest=digest,
        subscriber=subscriber,
        return_path=bounce,
        unsubscribe=mailto.removeprefix("mailto:").partition("?")[0],
    )


def mail(name: str, **values: str) -> bytes:
    """mail/<name>.eml with each {placeholder} replaced, as CRLF bytes (as LMTP hands it over)."""
    text = (MAIL / f"{name}.eml").read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    assert "{to}" not in text and "{recipient}" not in text, f"{name}: a placeholder left unfilled"
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def mail_for(name: str, message: Sent, *, to: str | None = None) -> bytes:
    """The sample as it comes back for `message`; `to` overrides the address it was sent to."""
    address = message.unsubscribe if name == "mailto_unsubscribe" else message.return_path
    return mail(
        name,
        to=to if to is not None else address,
        recipient=message.subscriber.email,
        message_id=f"{message.row.message_id}@news.example",
        unsubscribe=message.unsubscribe + "?subject=unsubscribe",
        redacted="redacted@readers-isp.example",
    )


def forged(address: str) -> str:
    """`address` with one character of its MAC changed: it looks signed and is not."""
    local, _, domain = address.partition("@")
    last = "b" if local[-1] != "b" else "c"
    return f"{local[:-1]}{last}@{domain}"
