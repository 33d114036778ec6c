"""The one Redis client every part of the product uses (rate limits, throttle, markers, health)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a health check that hangs on a dead Redis is worse than one that says "down".
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def redis_client() -> redis.Redis:
    """A Redis connection for REDIS_URL as it is set now (tests point it elsewhere)."""
    return _client(settings.REDIS_URL)
