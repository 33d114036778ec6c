"""What every /metrics scrape needs from the infrastructure: the token, and counters that never go
down.

The figures themselves come from the apps (newsletters/metrics.py composes them); this module
knows nothing of digests or readers.

- **The token.** `METRICS_TOKEN` unset: the endpoint does not exist (404, like any unknown page).
  Set: a scrape must send `Authorization: Bearer <token>`, compared in constant time, else 401.
- **Counters that never go down.** Prometheus reads any decrease of a counter as a restart from
  zero, so `rate()` would show a burst as large as the whole count. Our counters are counted from
  rows, and rows can go back: an ESP's late bounce turns a sent row into a failed one, "Resend to
  the undelivered" turns failed rows back into pending ones, erasing a reader deletes their rows.
  So each scrape reports the highest value any scrape of the cluster has reported (a hash in
  Redis, raised atomically): a dip is held flat until the rows catch up. If Redis is down the
  counts go out as they are; a Redis that lost the hash starts again from the rows.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping

import redis
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from redis.commands.core import Script

from operations.redis_client import redis_client

HIGH_WATER_KEY = "newsdesk:metrics:high_water"

# ARGV: field, value, field, value, ... Returns each field's kept value, in order.
_RAISE = """
local kept = {}
for i = 1, #ARGV, 2 do
  local value = tonumber(ARGV[i + 1])
  local seen = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  if seen == nil or value > seen then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    seen = value
  end
  kept[#kept + 1] = seen
end
return kept
"""


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None if `request` may read the metrics; else the 401 to answer. Raises Http404 when off."""
    token: str | None = settings.METRICS_TOKEN
    if not token:
        # Off unless an operator turned it on: the figures say how big the audience is.
        raise Http404("Metrics are off (METRICS_TOKEN is not set).")
    words = request.headers.get("Authorization", "").split()
    # Bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
    if (
        len(words) == 2
        and words[0].lower() == "bearer"
        and hmac.compare_digest(words[1].encode("utf-8", "surrogateescape"), token.encode())
    ):
        return None
    response = HttpResponse(
        "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def counters_never_lower(counts: Mapping[str, int]) -> dict[str, int]:
    """Each counter as counted now, or the highest any scrape reported, whichever is higher."""
    if not counts:
        return {}
    fields = list(counts)
    args: list[str | int] = []
    for field in fields:
        args += [field, int(counts[field])]
    try:
        kept = _raise_script(redis_client())(keys=[HIGH_WATER_KEY], args=args)
    except redis.RedisError:
        return dict(counts)
    return {field: int(value) for field, value in zip(fields, kept, strict=True)}


@functools.cache
def _raise_script(client: redis.Redis) -> Script:
    # Registered once per client: redis-py sends EVALSHA and loads the script on NOSCRIPT.
    return client.register_script(_RAISE)
