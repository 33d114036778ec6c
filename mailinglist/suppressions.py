"""The suppression list: addresses that are never mailed again, and who may sign up anyway.

Its own module because everything that mails or subscribes asks it (signups, imports, the
preference centre, transactional mail, the digest engine), and none of them should have to
import another's module for it.
"""

from __future__ import annotations

from mailinglist.addresses import email_hash
from mailinglist.models import Suppression


def is_suppressed(*, email: str) -> bool:
    """Whether `email` (any case) is on the suppression list."""
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def signup_blocked(*, email: str) -> bool:
    """Whether a signup from `email` must be ignored: it bounced, complained or staff blocked it.

    An erased address is suppressed too, but its owner may come back through a new double
    opt-in (confirming lifts the erasure's suppression); imports and staff cannot bring it back.
    """
    return (
        Suppression.objects.filter(email_hash=email_hash(email))
        .exclude(reason=Suppression.Reason.ERASED)
        .exists()
    )


def suppression_add(*, email: str, reason: str, note: str = "") -> Suppression:
    """Put `email` on the suppression list (idempotent); it will never be mailed again."""
    suppression, _ = Suppression.objects.get_or_create(
        email_hash=email_hash(email),
        defaults={
            "email": "" if reason == Suppression.Reason.ERASED else email,
            "reason": reason,
            "note": note,
        },
    )
    return suppression
