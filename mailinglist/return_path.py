"""Signed addresses that mail comes back to: the VERP return path and the mailto: unsubscribe.

With BOUNCE_ADDRESS set (bounces@news.example), every message to a reader leaves with a return
path of its own, bounces+<token>@news.example, so a bounce names the reader (and the digest) it
belongs to whatever the bouncing server writes in its report; and a digest's List-Unsubscribe
offers mailto:bounces+<token>@news.example beside the https one-click link. The token is the
reference in plain digits (base 36) and a MAC over it, so nobody can make an address that
suppresses or unsubscribes someone else, and a forged or unsigned return path is simply ignored.

A digest's two addresses (kinds b and u) now carry a slice of the message's one MAC
(mailinglist.message_tokens) and the day it was issued, all in hex:
b<reader>.<list>.<digest>.<day>.<mac>. The older four-field form, with a MAC of its own per
address, is still made for transactional mail (kind t) and read for every kind, as mail sent
before keeps coming back.

Why not django.core.signing: a local part holds at most 64 characters (RFC 5321 §4.5.3.1.1) and
some servers lower-case it, so the token is short and lower-case (base 36 and base 32), and the
MAC is truncated to 80 bits — plenty against forgery, where every guess costs a sent mail.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from mailinglist import message_tokens

# b: a digest's message bounced; t: a transactional message (confirmation, welcome) bounced;
# u: the reader asks to leave the list by mail (List-Unsubscribe mailto:).
Kind = Literal["b", "t", "u"]
_MAC_BYTES = 10  # 80 bits, 16 base-32 characters
_TOKEN = re.compile(
    r"^([btu])([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([a-z2-7]{16})$"
)
# A digest message's: the day of issue too, and the MAC is its purpose's slice of the message's.
_MESSAGE_TOKEN = re.compile(
    rf"([bu]){message_tokens.NUMBER}\.{message_tokens.NUMBER}\.{message_tokens.NUMBER}"
    rf"\.{message_tokens.DAY}\.([0-9a-f]{{20}})"
)
_PURPOSES: dict[str, message_tokens.Purpose] = {"b": "bounce", "u": "mailto"}


@dataclass(frozen=True)
class Ref:
    """What a signed address says: whose mail, on which list, from which digest (0: none)."""

    kind: Kind
    subscriber_id: int
    list_id: int = 0
    digest_id: int = 0


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(reversed(out))


@functools.cache
def _prepared(secret: str) -> hmac.HMAC:
    # Derived once per key: the digest engine makes two of these for every message it sends.
    key = hashlib.sha256(f"mailinglist.return-path{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(body: str, secret: str) -> str:
    mac = _prepared(secret).copy()
    mac.update(body.encode())
    return base64.b32encode(mac.digest()[:_MAC_BYTES]).decode().lower()


def _token(ref: Ref) -> str:
    body = f"{ref.kind}{_b36(ref.subscriber_id)}.{_b36(ref.list_id)}.{_b36(ref.digest_id)}"
    return f"{body}.{_mac(body, str(settings.SECRET_KEY))}"


def _signed_address(ref: Ref) -> str:
    return address_with_token(_token(ref))


def address_with_token(token: str) -> str:
    """BOUNCE_ADDRESS with `token` after a '+' in its local part."""
    local, _, domain = str(settings.BOUNCE_ADDRESS).partition("@")
    return f"{local}+{token}@{domain}"


def mailto_with_token(token: str) -> str:
    """The List-Unsubscribe mailto: URI for a signed address's `token`."""
    return f"mailto:{address_with_token(token)}?subject=unsubscribe"


def around_tokens() -> tuple[tuple[str, str], tuple[str, str]]:
    """The return path and the mailto: URI as the text before and after their token, resolved
    once for a digest's readers (message_tokens.MessageSigner). Requires BOUNCE_ADDRESS."""
    address_before, _, address_after = address_with_token(_MARK).partition(_MARK)
    mailto_before, _, mailto_after = mailto_with_token(_MARK).partition(_MARK)
    return (address_before, address_after), (mailto_before, mailto_after)


_MARK = "TOKEN-MARK"


def is_enabled() -> bool:
    """Whether mail goes out with signed return paths (BOUNCE_ADDRESS is set)."""
    return bool(settings.BOUNCE_ADDRESS)


def bounce_address(*, subscriber_id: int, digest_id: int = 0, list_id: int = 0) -> str:
    """The return path of one message to one reader in the four-field form: a transactional
    one's (digest_id 0), or a digest's as mail sent before message_tokens carried. Requires
    BOUNCE_ADDRESS."""
    kind: Kind = "b" if digest_id else "t"
    return _signed_address(
        Ref(kind=kind, subscriber_id=subscriber_id, list_id=list_id, digest_id=digest_id)
    )


def unsubscribe_mailto(*, subscriber_id: int, list_id: int, digest_id: int) -> str:
    """The List-Unsubscribe mailto: URI of one reader's digest (RFC 2369) in the four-field
    form digests carried before message_tokens. Requires BOUNCE_ADDRESS."""
    ref = Ref(kind="u", subscriber_id=subscriber_id, list_id=list_id, digest_id=digest_id)
    return mailto_with_token(_token(ref))


def signed_ref_read(address: str) -> Ref | None:
    """The Ref a signed address carries, or None if it carries none or its MAC is wrong.

    Case is ignored (servers may lower- or upper-case a local part); the domain is not checked,
    as mail forwarded between our own domains keeps a valid token.
    """
    local = address.strip().strip("<>").rpartition("@")[0]
    _, plus, token = local.partition("+")
    if not plus:
        return None
    token = token.lower()
    found = _TOKEN.match(token)
    if found is None:
        return _message_ref_read(token)
    kind, subscriber, list_id, digest, mac = found.groups()
    body = f"{kind}{subscriber}.{list_id}.{digest}"
    secrets = [str(settings.SECRET_KEY), *map(str, settings.SECRET_KEY_FALLBACKS)]
    if not any(hmac.compare_digest(mac, _mac(body, secret)) for secret in secrets):
        return None
    return Ref(
        kind=kind,  # type: ignore[arg-type]  # the pattern admits only b, t and u
        subscriber_id=int(subscriber, 36),
        list_id=int(list_id, 36),
        digest_id=int(digest, 36),
    )


def _message_ref_read(token: str) -> Ref | None:
    # A digest message's b or u address: its slice of the message's MAC. Never expires.
    found = _MESSAGE_TOKEN.fullmatch(token)
    if found is None:
        return None
    kind, *numbers, mac_text = found.groups()
    subscriber_id, list_id, digest_id, day = (int(number, 16) for number in numbers)
    is_genuine = message_tokens.slice_verify(
        purpose=_PURPOSES[kind],
        subscriber_id=subscriber_id,
        list_id=list_id,
        digest_id=digest_id,
        day=day,
        mac=bytes.fromhex(mac_text),
    )
    if not is_genuine:
        return None
    return Ref(
        kind=kind,  # type: ignore[arg-type]  # the pattern admits only b and u
        subscriber_id=subscriber_id,
        list_id=list_id,
        digest_id=digest_id,
    )
