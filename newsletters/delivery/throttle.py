"""Send-rate throttle shared by all workers: one token bucket per sending backend, kept in Redis.

Every worker on every host takes its tokens from the same Redis hash, updated atomically by a Lua
script that reads the clock with Redis's own TIME, so skewed host clocks cannot hand out extra
tokens. The bucket refills at the effective rate and holds at most BURST_SECONDS of it (at least one
token): whatever a one-second window starts with, it can carry at most rate * (1 + BURST_SECONDS)
messages, inside the benchmark's 1.05 R, while the small reserve still absorbs a worker's
scheduling jitter so the sustained rate stays close to R.

When the server answers 421/454/429, `throttle_slow_down` stores a penalty factor in the same hash,
so all workers slow down together: the rate is multiplied by `factor` for `hold_seconds`, then
doubles back each further hold period until it is the configured rate again.

The same buckets pace each receiving-domain group (pacing.py): a group without a rate of its own
takes from its bucket only while a slow-down is in force (`throttle_take_if_slowed`), and
`throttle_states` reads several buckets at once for the send desk and /metrics.

Redis down: the throttle cannot know how many workers share the rate, so it does not guess a local
rate. `throttle_take` raises ThrottleUnavailable (after the client's short socket timeouts, never a
hang); the sender treats it like an SMTP 4xx: the batch stops and its rows are retried later.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.commands.core import Script

from operations.redis_client import redis_client
from operations.transport import SMTP_BACKEND

KEY_PREFIX = "newsdesk:throttle:"
# Burst capacity in seconds of rate: 25 ms keeps every 1-second window under 1.025 R.
BURST_SECONDS = 0.025
# A slowed-down backend still gets this many messages per second (or its configured rate if lower).
FLOOR_RATE = 1.0
# Several workers hit the same 421 within moments; within this window (capped at the hold) they
# count as one event that extends the hold, rather than halving the rate once per worker.
SLOW_DOWN_GRACE = 5.0
# Bounds the stored factor (and so the key's lifetime); FLOOR_RATE is the floor that matters.
MIN_FACTOR = 1e-6
# An idle bucket refills to full within milliseconds; its key only lingers to carry the penalty.
IDLE_TTL = 600
# The reply kept with a slow-down, for the desk to say why ("421 4.7.0"): a code, not a story.
MAX_REASON_LENGTH = 40

# Lua numbers are doubles and redis.call would format them with 14 digits, so every stored or
# returned number goes through string.format: a 14-digit epoch time would lose its milliseconds.
_PRELUDE = """
local function now_seconds()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- The penalty factor in force at `now` (doubling back each hold period) and when it ends.
local function penalty(key, now)
  local s = redis.call('HMGET', key, 'factor', 'since', 'hold', 'cut_at')
  local f0 = tonumber(s[1])
  if not f0 then return 1, now, nil end
  local since, hold = tonumber(s[2]), tonumber(s[3])
  local periods = math.floor(math.max(0, now - since) / hold)
  local doublings = math.ceil(math.log(1 / f0) / math.log(2) - 1e-9)
  return math.min(1, f0 * 2 ^ periods), since + hold * doublings, tonumber(s[4])
end
local function effective(rate, factor, floor)
  return math.max(math.min(rate, floor), rate * factor)
end
local function keep(key, now, recovered_at, idle_ttl)
  redis.call('EXPIRE', key, math.ceil(math.max(0, recovered_at - now)) + idle_ttl)
end
"""

# ARGV: rate, count, floor, burst_seconds, idle_ttl, penalty_only. Returns the seconds to wait
# ("0" if taken); with penalty_only "1", "-1" when no slow-down is in force (nothing taken).
_TAKE = """
local key = KEYS[1]
local rate, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_seconds()
local factor, recovered_at = penalty(key, now)
if ARGV[6] == '1' and factor >= 1 then
  redis.call('HDEL', key, 'factor', 'since', 'hold', 'cut_at', 'reason')
  return '-1'
end
local eff = effective(rate, factor, tonumber(ARGV[3]))
local cap = math.max(1, eff * tonumber(ARGV[4]))
local s = redis.call('HMGET', key, 'tokens', 'at')
local tokens = cap
if s[1] then
  tokens = math.min(cap, tonumber(s[1]) + math.max(0, now - tonumber(s[2])) * eff)
end
-- A take larger than the bucket is granted once the bucket is full and leaves a debt that later
-- takes wait out, so the long-run rate still holds.
local need = math.min(count, cap)
local wait = 0
if tokens + 1e-9 >= need then
  tokens = tokens - count
else
  wait = (need - tokens) / eff
end
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'at', string.format('%.6f', now))
if factor >= 1 then redis.call('HDEL', key, 'factor', 'since', 'hold', 'cut_at', 'reason') end
keep(key, now, recovered_at, tonumber(ARGV[5]))
return string.format('%.17g', wait)
"""

# ARGV: factor, hold_seconds, grace, min_factor, idle_ttl, reason. Returns the new factor.
_SLOW_DOWN = """
local key = KEYS[1]
local mult, hold = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_seconds()
local current, _, cut_at = penalty(key, now)
local factor = current
if not cut_at or now - cut_at >= math.min(tonumber(ARGV[3]), hold) then
  factor = math.max(current * mult, tonumber(ARGV[4]))
  cut_at = now
end
redis.call('HSET', key, 'factor', string.format('%.17g', factor),
  'since', string.format('%.6f', now), 'hold', string.format('%.17g', hold),
  'cut_at', string.format('%.6f', cut_at), 'reason', ARGV[6])
local _, recovered_at = penalty(key, now)
keep(key, now, recovered_at, tonumber(ARGV[5]))
return string.format('%.17g', factor)
"""

# ARGV: rate, floor. Returns the effective rate; reads only.
_EFFECTIVE = """
local factor = penalty(KEYS[1], now_seconds())
return string.format('%.17g', effective(tonumber(ARGV[1]), factor, tonumber(ARGV[2])))
"""

# KEYS: buckets; ARGV: each one's rate, then the floor. Reads only. Returns per bucket: effective
# rate, penalty factor, seconds until fully recovered, and the reason of the last slow-down.
_STATES = """
local now, floor, out = now_seconds(), tonumber(ARGV[#KEYS + 1]), {}
for i, key in ipairs(KEYS) do
  local factor, recovered_at = penalty(key, now)
  local reason = ''
  if factor < 1 then reason = redis.call('HGET', key, 'reason') or '' end
  out[i] = {string.format('%.17g', effective(tonumber(ARGV[i]), factor, floor)),
    string.format('%.17g', factor), string.format('%.6f', math.max(0, recovered_at - now)), reason}
end
return out
"""


class ThrottleUnavailable(Exception):
    """Redis is unreachable: treat like a transient send error (stop, retry the rows later)."""


def throttle_take(*, backend_key: str, rate: float, count: int = 1) -> float:
    """Take `count` tokens and return 0.0, or take nothing and return the seconds to wait first.

    `rate` is the configured messages per second for this backend (SEND_RATE); 0 or less means
    unlimited and never touches Redis. Raises ThrottleUnavailable if Redis cannot be reached.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if rate <= 0:
        return 0.0
    return float(_run("take", backend_key, rate, count, FLOOR_RATE, BURST_SECONDS, IDLE_TTL))


def throttle_take_if_slowed(*, backend_key: str, rate: float) -> float | None:
    """None while no slow-down is in force (nothing taken); else `throttle_take` at the cut rate.

    For a bucket that limits nothing of its own until the server asks it to slow down: `rate`
    is only the base that a slow-down cuts. Raises ThrottleUnavailable if Redis is down.
    """
    if rate <= 0:
        raise ValueError("a slow-down needs a positive base rate")
    wait = float(_run("take", backend_key, rate, 1, FLOOR_RATE, BURST_SECONDS, IDLE_TTL, 1))
    return None if wait < 0 else wait


def throttle_slow_down(
    *, backend_key: str, factor: float = 0.5, hold_seconds: float = 60.0, reason: str = ""
) -> float:
    """The server said 421/454/429: multiply this backend's rate by `factor` for every worker.

    The cut lasts `hold_seconds`; then the rate doubles back each further hold period. Further
    calls within SLOW_DOWN_GRACE of a cut only extend the hold (they are the same episode seen by
    other sends in flight); later ones cut again. `reason` (the reply, say "421 4.7.0") is kept
    for `throttle_states`. Returns the factor now in force. Raises ThrottleUnavailable if Redis
    is down.
    """
    if not 0 < factor <= 1:
        raise ValueError("factor must be in (0, 1]")
    if hold_seconds <= 0:
        raise ValueError("hold_seconds must be positive")
    return float(
        _run(
            "slow_down",
            backend_key,
            factor,
            hold_seconds,
            SLOW_DOWN_GRACE,
            MIN_FACTOR,
            IDLE_TTL,
            reason[:MAX_REASON_LENGTH],
        )
    )


def throttle_backend_key() -> str:
    """The bucket of the server EMAIL_URL names, shared by every worker that sends to it."""
    # Asked for twice a message on the send path; three settings lookups each time added up.
    if not _backend_key:
        if settings.EMAIL_BACKEND == SMTP_BACKEND:
            _backend_key.append(f"smtp:{settings.EMAIL_HOST}:{settings.EMAIL_PORT}")
        else:
            _backend_key.append(str(settings.EMAIL_BACKEND))
    return _backend_key[0]


_backend_key: list[str] = []


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Settings change at run time only in tests (override_settings).
    if setting in {"EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT"}:
        _backend_key.clear()


def throttle_effective_rate(*, backend_key: str, rate: float) -> float:
    """Messages per second this backend may send now (0.0: unlimited), for the admin to show."""
    if rate <= 0:
        return 0.0
    return float(_run("effective", backend_key, rate, FLOOR_RATE))


@dataclass(frozen=True)
class ThrottleState:
    """A bucket as every worker sees it now."""

    rate: float  # messages per second it allows now (the base rate when not slowed)
    factor: float  # 1.0 when not slowed down
    recovering_seconds: float  # until the rate is back to the base (0 when not slowed)
    reason: str  # the reply that slowed it down ("" when not slowed)

    @property
    def is_slowed(self) -> bool:
        return self.factor < 1


def throttle_states(*, rates: dict[str, float]) -> dict[str, ThrottleState]:
    """Each bucket of `rates` (backend key → base rate) as it is now, in one Redis round trip.

    Raises ThrottleUnavailable if Redis is down.
    """
    keys = list(rates)
    if not keys:
        return {}
    client = redis_client()
    try:
        answer = _scripts(client)["states"](
            keys=[KEY_PREFIX + key for key in keys],
            args=[*(rates[key] for key in keys), FLOOR_RATE],
        )
    except redis.RedisError as exc:
        raise ThrottleUnavailable(f"send-rate throttle unavailable (Redis): {exc}") from exc
    return {
        key: ThrottleState(
            rate=float(rate),
            factor=float(factor),
            recovering_seconds=float(seconds),
            reason=reason.decode() if isinstance(reason, bytes) else str(reason),
        )
        for key, (rate, factor, seconds, reason) in zip(keys, answer, strict=True)
    }


@functools.cache
def _scripts(client: redis.Redis) -> dict[str, Script]:
    # Registered once per client: redis-py sends EVALSHA and loads the script on NOSCRIPT.
    return {
        name: client.register_script(_PRELUDE + body)
        for name, body in (
            ("take", _TAKE),
            ("slow_down", _SLOW_DOWN),
            ("effective", _EFFECTIVE),
            ("states", _STATES),
        )
    }


def _run(name: str, backend_key: str, *args: float | str) -> str | bytes:
    client = redis_client()
    try:
        result: str | bytes = _scripts(client)[name](keys=[KEY_PREFIX + backend_key], args=args)
    except redis.RedisError as exc:
        raise ThrottleUnavailable(f"send-rate throttle unavailable (Redis): {exc}") from exc
    return result
