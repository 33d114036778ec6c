"""Defences of the public signup form and API: rate limits, honeypot, time trap.

Counters live in Redis (the Django cache), shared by every web process. Limits per IP answer
429 with a message; limits per address are silent (same answer, no mail), because a different
answer would tell a stranger something about that address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from mailinglist.addresses import email_hash

HONEYPOT_FIELD = "website"  # hidden from people; bots fill in every field they find
FORM_TOKEN_FIELD = "form_token"  # noqa: S105 - a field name, not a secret
FORM_TOKEN_SALT = "mailinglist.form-rendered"  # noqa: S105 - a salt name, not a secret
# A person needs a couple of seconds to type an address; a script posts at once. Tokens older
# than a day come from a stale cached page: accept them (a reader must never be refused), but
# they are no proof of a person either, so rate limits still apply.
MIN_FILL_SECONDS = 2.0

# Per IP: sized for a newsroom's readers behind one carrier-grade NAT or office proxy, where
# hundreds of people share an address, while stopping a script's thousands.
# The SIGNUP_IP_LIMIT setting overrides it: the signup benchmark posts thousands from one IP.
IP_LIMIT = 60
IP_WINDOW_SECONDS = 10 * 60
# Per address: at most one confirmation email a day, however many signups arrive.
CONFIRMATION_WINDOW_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class RateLimited(Exception):
    retry_after_seconds: int


def form_token_make(*, now: float | None = None) -> str:
    """A signed stamp of when the form was rendered, for the time trap."""
    return signing.dumps(time.time() if now is None else now, salt=FORM_TOKEN_SALT)


def looks_automated(
    *, honeypot: str | None, form_token: str | None, now: float | None = None
) -> bool:
    """True when a submission is a bot's: honeypot filled, or posted faster than a person types.

    A missing token is not proof of a bot (API clients and old cached pages have none); a
    tampered one is.
    """
    if honeypot:
        return True
    if not form_token:
        return False
    try:
        rendered_at = float(signing.loads(form_token, salt=FORM_TOKEN_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return True
    elapsed = (time.time() if now is None else now) - rendered_at
    return elapsed < MIN_FILL_SECONDS


def ip_limit_hit(*, ip: str | None) -> None:
    """Count one signup from `ip`; raise RateLimited past IP_LIMIT in the window."""
    if not ip:
        return
    window = int(time.time() // IP_WINDOW_SECONDS)
    key = f"signup:ip:{ip}:{window}"
    # add() is SET NX: the first request of a window creates the counter with its expiry.
    cache.add(key, 0, timeout=IP_WINDOW_SECONDS)
    count = cache.incr(key)
    if count > getattr(settings, "SIGNUP_IP_LIMIT", IP_LIMIT):
        retry_after = IP_WINDOW_SECONDS - int(time.time() % IP_WINDOW_SECONDS)
        raise RateLimited(retry_after_seconds=retry_after)


def confirmation_slot_take(*, email: str) -> bool:
    """True for the first confirmation to `email` in CONFIRMATION_WINDOW_SECONDS, else False.

    Atomic across workers (SET NX), so a thousand simultaneous signups take one slot between them.
    """
    return bool(
        cache.add(
            f"signup:confirm-sent:{email_hash(email)}", 1, timeout=CONFIRMATION_WINDOW_SECONDS
        )
    )


def confirmation_slot_release(*, email: str) -> None:
    """Give the slot back when the confirmation could not be sent at all."""
    cache.delete(f"signup:confirm-sent:{email_hash(email)}")
