"""One MAC per digest message, sliced by purpose: the reader's four signed links from one hash.

A digest message carries four signed things for its reader: the https unsubscribe link (the
List-Unsubscribe one-click POST and the visible link), the preference centre link, and with
BOUNCE_ADDRESS set the VERP return path and the List-Unsubscribe mailto:. They used to be four
MACs; now the message's identity — reader, list, digest, day of issue — is MACed once, and each
link carries its own slice of the one 512-bit output:

    bytes  0-9   bounce   (VERP return path, 80 bits: what a 64-character local part has room for)
    bytes 10-19  mailto   (List-Unsubscribe mailto:, 80 bits, same reason)
    bytes 20-35  unsubscribe  (https link, 128 bits)
    bytes 36-51  preferences  (https link, 128 bits)
    bytes 52-63  unused

Slices of a PRF's output are independent: a bounce relay that sees the return path, or a
mailbox provider that sees List-Unsubscribe, learns nothing about the other slices, and each
verifier compares only its own purpose's slice, so no link opens more than it did alone.

The MAC is keyed BLAKE2b (RFC 7693's MAC mode) with a 64-byte output, not HMAC-SHA256: one
call instead of HMAC's two hashes, and 512 bits, so each purpose gets a full-strength slice of
its own rather than a sliver of 256. The key is derived once per process from SECRET_KEY (HMAC-
SHA512 with a label); verification also tries SECRET_KEY_FALLBACKS, so keys can be rotated.

Every field is written in lower-case hex: a local part may be lower-cased on the way back, and
hex costs a fraction of base 32 or 36 on the send path (Python's base32 is not in C). A digest
message's local part is b<reader>.<list>.<digest>.<day>.<20 hex digits>, 52 characters with
"bounces+" for a billion readers, a million digests and 255 lists; its https token is
<public id>.<list>.<digest>.<day>.<32 hex digits>.

The MAC covers the reader's primary key, which the return path carries (it must verify without
the database, and a public id is mixed-case and too long for a local part). The https links
carry the random public id instead (never a sequential key in a URL); their reader is looked up
by it and the MAC recomputed over that reader's key, so a link names exactly one reader.

Unsubscribing never expires; a preference link expires PREFERENCES_LIFETIME after its day.
Transactional mail (one message per reader, not per digest) keeps its own tokens in tokens.py
and return_path.py, and every token in mail already sent keeps working there.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from django.conf import settings

Purpose = Literal["bounce", "mailto", "unsubscribe", "preferences"]
_BOUNCE, _MAILTO, _UNSUBSCRIBE, _PREFERENCES = (
    slice(0, 10),
    slice(10, 20),
    slice(20, 36),
    slice(36, 52),
)
_SLICES: dict[Purpose, slice] = {
    "bounce": _BOUNCE,
    "mailto": _MAILTO,
    "unsubscribe": _UNSUBSCRIBE,
    "preferences": _PREFERENCES,
}
_VERSION = 1
# Fixed-width fields, so no two identities encode alike: version, reader, list, digest, day.
_IDENTITY = struct.Struct(">BQQQI")
_MAX_ID = 2**63 - 1
_MAX_DAY = 2**32 - 1
_PERSON = b"newsdesk-msg"  # BLAKE2b personalisation: this hash is for nothing else
# A number as Python's hex format writes it: lower case, no leading zero, so one spelling each.
NUMBER = r"(0|[1-9a-f][0-9a-f]{0,14})"
DAY = r"(0|[1-9a-f][0-9a-f]{0,7})"
# <public id>.<list>.<digest>.<day>.<128-bit slice>
_WEB_TOKEN = re.compile(rf"([A-Za-z0-9_-]{{1,32}})\.{NUMBER}\.{NUMBER}\.{DAY}\.([0-9a-f]{{32}})")


class DigestTokens(NamedTuple):
    """One message's signed values: the two https links' and the two addresses' ("" if unused),
    each a token with the text around it (none for bare tokens)."""

    unsubscribe: str
    preferences: str
    bounce: str
    mailto: str


@dataclass(frozen=True)
class WebToken:
    """What an https link's token says; `mac` is its slice, still to be checked."""

    public_id: str
    list_id: int
    digest_id: int
    day: int
    mac: bytes


def today() -> int:
    """Days since 1970-01-01 (UTC): the issue day a message's links carry."""
    return int(time.time()) // 86400


@functools.cache
def _prepared(secret: str) -> hashlib.blake2b:
    # Derived once per key and copied per message: the key schedule is not paid again.
    key = hmac.digest(secret.encode(), b"mailinglist.message-token", "sha512")
    return hashlib.blake2b(key=key, digest_size=64, person=_PERSON)


def _mac(
    prepared: hashlib.blake2b, subscriber_id: int, list_id: int, digest_id: int, day: int
) -> bytes:
    """The message's 64-byte MAC; every purpose's slice is cut from it."""
    state = prepared.copy()
    state.update(_IDENTITY.pack(_VERSION, subscriber_id, list_id, digest_id, day))
    return state.digest()


def _secrets() -> Iterator[str]:
    yield str(settings.SECRET_KEY)
    yield from map(str, settings.SECRET_KEY_FALLBACKS)


# The text around a token in what the message carries: ("https://…/unsubscribe/", "/").
Around = tuple[str, str]
BARE: Around = ("", "")


class MessageSigner:
    """A digest's signing of its readers' messages, with all that is the same for every reader
    derived once: the key's prepared state, the list and digest, the text around each token.

    Built with the digest's message template (newsletters.delivery.messages), so the send loop
    reads no setting per message. `return_paths` is the text around the return path and around
    the mailto: token, or None when BOUNCE_ADDRESS is unset.
    """

    __slots__ = (
        "_digest_id",
        "_list_id",
        "_preferences",
        "_return_paths",
        "_state",
        "_unsubscribe",
    )

    def __init__(
        self,
        *,
        list_id: int,
        digest_id: int,
        unsubscribe: Around = BARE,
        preferences: Around = BARE,
        return_paths: tuple[Around, Around] | None = None,
    ) -> None:
        self._state = _prepared(str(settings.SECRET_KEY))
        self._list_id, self._digest_id = list_id, digest_id
        self._unsubscribe, self._preferences = unsubscribe, preferences
        self._return_paths = return_paths

    def sign(self, *, subscriber_id: int, public_id: str, day: int | None = None) -> DigestTokens:
        """One reader's four signed values, from one MAC; `day` defaults to today (a retried
        send on the same day carries the same values)."""
        day = today() if day is None else day
        mac = _mac(self._state, subscriber_id, self._list_id, self._digest_id, day)
        fields = f"{self._list_id:x}.{self._digest_id:x}.{day:x}"
        bounce = mailto = ""
        if self._return_paths is not None:
            (before_bounce, after_bounce), (before_mailto, after_mailto) = self._return_paths
            reader = f"{subscriber_id:x}.{fields}"
            bounce = f"{before_bounce}b{reader}.{mac[_BOUNCE].hex()}{after_bounce}"
            mailto = f"{before_mailto}u{reader}.{mac[_MAILTO].hex()}{after_mailto}"
        before_unsubscribe, after_unsubscribe = self._unsubscribe
        before_preferences, after_preferences = self._preferences
        link = f"{public_id}.{fields}"
        return DigestTokens(
            unsubscribe=f"{before_unsubscribe}{link}.{mac[_UNSUBSCRIBE].hex()}{after_unsubscribe}",
            preferences=f"{before_preferences}{link}.{mac[_PREFERENCES].hex()}{after_preferences}",
            bounce=bounce,
            mailto=mailto,
        )


def digest_tokens_make(
    *,
    subscriber_id: int,
    public_id: str,
    list_id: int,
    digest_id: int,
    return_paths: bool,
    day: int | None = None,
) -> DigestTokens:
    """The four bare tokens of one reader's digest message (the local-part ones only with
    `return_paths`), under today's SECRET_KEY; the send loop uses a MessageSigner."""
    signer = MessageSigner(
        list_id=list_id, digest_id=digest_id, return_paths=(BARE, BARE) if return_paths else None
    )
    return signer.sign(subscriber_id=subscriber_id, public_id=public_id, day=day)


def slice_verify(
    *, purpose: Purpose, subscriber_id: int, list_id: int, digest_id: int, day: int, mac: bytes
) -> bool:
    """Whether `mac` is this identity's slice for `purpose` under SECRET_KEY or a fallback.

    Only that purpose's slice is compared (in constant time): a slice made for another purpose
    of the same message never matches.
    """
    if not (0 <= subscriber_id <= _MAX_ID and 0 <= list_id <= _MAX_ID):
        return False
    if not (0 <= digest_id <= _MAX_ID and 0 <= day <= _MAX_DAY):
        return False
    part = _SLICES[purpose]
    return any(
        hmac.compare_digest(
            mac, _mac(_prepared(secret), subscriber_id, list_id, digest_id, day)[part]
        )
        for secret in _secrets()
    )


def is_web_token(token: str) -> bool:
    """Whether `token` is in this scheme's https form (old django.core.signing tokens hold ':')."""
    return ":" not in token


def web_token_read(token: str) -> WebToken | None:
    """The fields of an https link's token, or None if it is not in this scheme's shape."""
    found = _WEB_TOKEN.fullmatch(token)
    if found is None:
        return None
    public_id, list_text, digest_text, day_text, mac_text = found.groups()
    return WebToken(
        public_id=public_id,
        list_id=int(list_text, 16),
        digest_id=int(digest_text, 16),
        day=int(day_text, 16),
        mac=bytes.fromhex(mac_text),
    )
