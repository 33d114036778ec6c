"""Email addresses from the outside world: strict validation, one normal form, one hash."""

from __future__ import annotations

import hashlib
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less the angle brackets
MAX_LOCAL_PART_LENGTH = 64
MAX_NAME_LENGTH = 100

_validator = EmailValidator(message="Enter a valid email address, like name@example.com.")


def email_normalise(raw: str) -> str:
    """The address in the one form we store: trimmed, domain IDNA-encoded and lower-cased.

    Raises ValidationError with a reader-facing message for anything that is not a plain,
    deliverable address: control characters (header injection), over-long parts, bad syntax.
    """
    if not isinstance(raw, str):
        raise ValidationError("Enter a valid email address, like name@example.com.")
    value = raw.strip()
    if not value:
        raise ValidationError("Enter your email address.")
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"That address is too long (at most {MAX_EMAIL_LENGTH} characters).")
    if any(unicodedata.category(ch)[0] in {"C", "Z"} for ch in value):
        # CR/LF, NUL, tabs, zero-width and other invisible characters, and any kind of space.
        raise ValidationError("An email address cannot contain spaces or control characters.")
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain:
        raise ValidationError("Enter a valid email address, like name@example.com.")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValidationError("The part before the @ is too long.")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValidationError("The part after the @ is not a valid domain.") from None
    normalised = f"{local}@{ascii_domain}"
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"That address is too long (at most {MAX_EMAIL_LENGTH} characters).")
    _validator(normalised)
    return normalised


def email_hash(email: str) -> str:
    """SHA-256 of the address as stored, ignoring case: what suppression entries match on."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def name_clean(raw: str | None) -> str:
    """A reader's name made safe to store and show: no control characters, one line, capped."""
    if not raw:
        return ""
    kept = "".join(" " if unicodedata.category(ch)[0] in {"C", "Z"} else ch for ch in str(raw))
    return " ".join(kept.split())[:MAX_NAME_LENGTH]
