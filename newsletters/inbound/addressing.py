"""Whose mail came back: the signed reference in the address it was sent to.

A bounce goes to the return path the message left with and a mailto: unsubscribe to the address
in List-Unsubscribe, both signed (mailinglist.return_path). The LMTP/SMTP envelope names that
address exactly; a mailbox only keeps it in the headers its server adds. Feedback loops send
their reports to one fixed address instead, so for a complaint the reference is looked for in
the copy of the original message the report carries (RFC 5965 §2: its Return-Path, its
List-Unsubscribe mailto:). Only the MAC decides: an address that merely looks right is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from email.message import Message
from email.parser import HeaderParser

from mailinglist.return_path import Ref, signed_ref_read

# Where a mailbox keeps the envelope recipient, most exact first (Delivered-To is Postfix's and
# qmail's, X-Original-To Postfix's before aliasing, Envelope-To Exim's); To last, as a mail
# client writes it for a mailto: unsubscribe.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
# Headers of the original message in a complaint that carry one of our signed addresses.
ORIGINAL_HEADERS = ("Return-Path", "List-Unsubscribe", "Sender", "From", "Reply-To")
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]{1,80}\+[^\s<>()\[\]\"',;:]{1,80}@[A-Za-z0-9.-]{1,253}")
_MAX_CANDIDATES = 50  # a header stuffed with addresses costs at most this many MAC checks


def _candidates(values: Iterable[object]) -> Iterator[str]:
    for value in values:
        yield from _ADDRESS.findall(str(value))


def _first_ref(candidates: Iterable[str]) -> Ref | None:
    for count, candidate in enumerate(candidates):
        if count >= _MAX_CANDIDATES:
            return None
        ref = signed_ref_read(candidate)
        if ref is not None:
            return ref
    return None


def recipient_ref(*, message: Message, envelope_recipients: Sequence[str]) -> Ref | None:
    """The signed reference of the address the mail was delivered to, or None."""
    if envelope_recipients:
        # The envelope is what the sending server asked for: headers cannot override it.
        return _first_ref(_candidates(envelope_recipients))
    for header in RECIPIENT_HEADERS:
        ref = _first_ref(_candidates(message.get_all(header, [])))
        if ref is not None:
            return ref
    return None


def original_headers(*, message: Message) -> Message | None:
    """The headers of the original message a report carries (message/rfc822 or
    text/rfc822-headers), or None."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                return inner
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return HeaderParser().parsestr(raw.decode("utf-8", "replace"))
    return None


def complaint_ref(*, message: Message, envelope_recipients: Sequence[str]) -> Ref | None:
    """The signed reference a feedback report names: its own recipient address if signed, else
    the original message's return path or unsubscribe address."""
    ref = recipient_ref(message=message, envelope_recipients=envelope_recipients)
    if ref is not None:
        return ref
    original = original_headers(message=message)
    if original is None:
        return None
    return _first_ref(
        _candidates(value for header in ORIGINAL_HEADERS for value in original.get_all(header, []))
    )
