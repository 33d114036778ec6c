"""Email addresses from the outside world: strict validation, one normal form, one hash."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less the angle brackets
# Lazy: domains' verdicts are cached across requests, and each reader reads them in their language.
_TOO_LONG = _("That address is too long (at most %(max)s characters).")
MAX_LOCAL_PART_LENGTH = 64
MAX_NAME_LENGTH = 100

_INVALID = _("Enter a valid email address, like name@example.com.")
_validator = EmailValidator(message=_INVALID)

# Names that DNS on the public internet never resolves, so mail sent to them can never arrive:
# RFC 6761 (localhost, invalid), RFC 6762 (local, multicast DNS), RFC 7686 (onion), RFC 8375
# (home.arpa) and ICANN's private-use internal. The RFC 2606 names for tests and documentation
# (example.com/.net/.org, .example, .test) stay accepted: test suites and staging sites sign up
# with them, and their mail goes to a sink, never to the internet.
UNDELIVERABLE_DOMAINS = ("localhost", "invalid", "local", "onion", "internal", "home.arpa")

# Where most readers' mail lives, for "Did you mean …?" (mailinglist/static/mailinglist/
# address_hint.js carries the same three lists; a test keeps them equal).
COMMON_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.es",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.es",
    "outlook.com",
    "outlook.fr",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "comcast.net",
    "verizon.net",
    "btinternet.com",
)
# Top-level domains that do not exist but are one slip away from .com/.net/.org.
TLD_TYPOS = {
    "con": "com",
    "cpm": "com",
    "cmo": "com",
    "ocm": "com",
    "vom": "com",
    "xom": "com",
    "comm": "com",
    "coom": "com",
    "nte": "net",
    "ogr": "org",
}


def email_normalise(raw: str) -> str:
    """The address in the one form we store: trimmed, domain IDNA-encoded and lower-cased.

    Raises ValidationError with a reader-facing message for anything that is not a plain,
    deliverable address: control characters (header injection), over-long parts, bad syntax.
    """
    if not isinstance(raw, str):
        raise ValidationError(_INVALID)
    value = raw.strip()
    if not value:
        raise ValidationError(_("Enter your email address."))
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(_TOO_LONG % {"max": MAX_EMAIL_LENGTH})
    if not _is_plain(value):
        # CR/LF, NUL, tabs, zero-width and other invisible characters, and any kind of space.
        raise ValidationError(_("An email address cannot contain spaces or control characters."))
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain:
        raise ValidationError(_INVALID)
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValidationError(_("The part before the @ is too long."))
    ascii_domain, refusal, is_valid_domain = _domain_normalise(domain)
    if refusal:
        raise ValidationError(refusal)
    normalised = f"{local}@{ascii_domain}"
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise ValidationError(_TOO_LONG % {"max": MAX_EMAIL_LENGTH})
    # What EmailValidator checks, in two halves: the local part by its regex, the domain once
    # per domain (cached above), since a file of 100,000 readers has a few hundred domains.
    if not (is_valid_domain and _local_part_match()(local)):
        _validator(normalised)  # raises, with the validator's own message
    return normalised


def _is_plain(value: str) -> bool:
    """No character of Unicode's control (C*) or separator (Z*) categories in `value`."""
    if value.isascii() and value.isprintable():
        # The common case, without a lookup per character: printable ASCII is all of ASCII but
        # the control characters, and the space is the one separator in it.
        return " " not in value
    return not any(unicodedata.category(ch)[0] in {"C", "Z"} for ch in value)


@functools.cache
def _local_part_match() -> Callable[[str], re.Match[str] | None]:
    # EmailValidator's own regex, compiled here once: reaching it through the validator costs a
    # lazy object's lookup per address, as much as the match itself.
    regex = _validator.user_regex
    return re.compile(regex.pattern, regex.flags).match


@functools.lru_cache(maxsize=4096)
def _domain_normalise(domain: str) -> tuple[str, StrOrPromise, bool]:
    """(the domain IDNA-encoded and lower-cased, why mail can never go there or "", whether
    EmailValidator accepts it)."""
    if domain.startswith("["):
        # A domain literal (name@[192.0.2.1]) is legal SMTP, but no reader's mailbox is one.
        return "", _("Use the domain name after the @, not an IP address."), False
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return "", _("The part after the @ is not a valid domain."), False
    refusal = _undeliverable_domain_reason(ascii_domain)
    is_valid = ascii_domain in _validator.domain_allowlist or _validator.validate_domain_part(
        ascii_domain
    )
    return ascii_domain, refusal, bool(is_valid)


def _never_delivered_now(domain: str) -> str:
    return gettext(
        "Mail can never be delivered to .%(domain)s addresses: please use an address on the "
        "internet."
    ) % {"domain": domain}


_never_delivered = lazy(_never_delivered_now, str)


def _undeliverable_domain_reason(ascii_domain: str) -> StrOrPromise:
    """Why mail to `ascii_domain` can never arrive, or "" when it may."""
    if "." not in ascii_domain.strip("."):
        # "localhost", an intranet host or a slip ("reader@gmail"): only a name with a dot
        # is found by the public DNS.
        return _("The part after the @ needs a dot, like example.com.")
    for reserved in UNDELIVERABLE_DOMAINS:
        if ascii_domain == reserved or ascii_domain.endswith("." + reserved):
            return _never_delivered(reserved)
    return ""


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance that counts swapping two neighbours as one edit (gmial → gmail)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def email_suggestion(email: str) -> str | None:
    """The address with a common domain typo fixed (gmial.con → gmail.com), or None.

    Only a hint for the reader: the address as typed stays acceptable. Country variants are
    left alone (yahoo.de is not a typo of yahoo.fr): apart from a misspelt .com/.net/.org, a
    suggestion keeps the top-level domain the reader typed.
    """
    local, sep, domain = email.strip().rpartition("@")
    domain = domain.lower()
    if not sep or not local or "." not in domain or domain in COMMON_DOMAINS:
        return None
    name, _, tld = domain.rpartition(".")
    fixed = f"{name}.{TLD_TYPOS.get(tld, tld)}"
    best, best_distance = "", 3
    for candidate in COMMON_DOMAINS:
        if candidate.rpartition(".")[2] != fixed.rpartition(".")[2]:
            continue
        distance = _edit_distance(fixed, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    # Short names sit close to each other (gmx.de, web.de): one slip at most for them.
    allowed = 1 if len(fixed) < 8 else 2
    if best and best_distance <= allowed:
        return f"{local}@{best}"
    if fixed != domain:
        return f"{local}@{fixed}"
    return None


def email_hash(email: str) -> str:
    """SHA-256 of the address as stored, ignoring case: what suppression entries match on."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def name_clean(raw: str | None) -> str:
    """A reader's name made safe to store and show: no control characters, one line, capped."""
    if not raw:
        return ""
    text = str(raw)
    if not (text.isascii() and text.isprintable()):  # printable ASCII has nothing to replace
        text = "".join(" " if unicodedata.category(ch)[0] in {"C", "Z"} else ch for ch in text)
    return " ".join(text.split())[:MAX_NAME_LENGTH]
