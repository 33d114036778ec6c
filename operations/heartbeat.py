"""Liveness records in Redis: each worker stamps itself every few seconds; beat stamps each tick.

The worker's stamp is written from its main process by a bootstep on the worker's own timer, not by
a task, so a pool busy with a long bulk backlog still reports itself alive, and a worker whose event
loop is stuck stops reporting. /healthz counts the workers seen within WORKER_STALE_AFTER.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import bootsteps

from operations.redis_client import redis_client

logger = logging.getLogger(__name__)

WORKERS_KEY = "newsdesk:heartbeat:workers"  # sorted set: worker hostname -> last stamp (epoch s)
BEAT_KEY = "newsdesk:heartbeat:beat"  # string: epoch seconds of beat's last tick
WORKER_INTERVAL = 5.0
# Three missed stamps: long enough to ride out a busy moment, short enough for a load balancer.
WORKER_STALE_AFTER = 3 * WORKER_INTERVAL


def worker_heartbeat_record(*, hostname: str, now: float | None = None) -> None:
    """Stamp `hostname` as alive now, and drop stamps too old to count."""
    stamp = time.time() if now is None else now
    pipe = redis_client().pipeline()
    pipe.zadd(WORKERS_KEY, {hostname: stamp})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", stamp - 10 * WORKER_STALE_AFTER)
    pipe.execute()


def worker_heartbeat_remove(*, hostname: str) -> None:
    """Forget a worker that shut down cleanly, so health turns red at once rather than later."""
    redis_client().zrem(WORKERS_KEY, hostname)


def alive_worker_count(*, now: float | None = None) -> int:
    """How many workers stamped themselves within WORKER_STALE_AFTER."""
    stamp = time.time() if now is None else now
    return int(redis_client().zcount(WORKERS_KEY, stamp - WORKER_STALE_AFTER, "+inf"))


def beat_tick_record(*, now: float | None = None) -> None:
    """Record that a beat tick reached a worker."""
    redis_client().set(BEAT_KEY, str(time.time() if now is None else now))


def beat_last_tick_age(*, now: float | None = None) -> float | None:
    """Seconds since beat's last tick reached a worker, or None if none ever did."""
    raw = redis_client().get(BEAT_KEY)
    if raw is None:
        return None
    return (time.time() if now is None else now) - float(raw)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Worker bootstep: stamp this worker's hostname into Redis every WORKER_INTERVAL seconds."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.hostname = ""

    def start(self, parent: Any) -> None:
        self.hostname = parent.hostname
        self._stamp()
        self.tref = parent.timer.call_repeatedly(WORKER_INTERVAL, self._stamp, priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            worker_heartbeat_remove(hostname=self.hostname)
        except redis.RedisError:
            logger.warning("Could not remove the heartbeat of %s from Redis", self.hostname)

    def _stamp(self) -> None:
        try:
            worker_heartbeat_record(hostname=self.hostname)
        except redis.RedisError as exc:
            # Redis being down is what the stamp's absence reports; the worker itself carries on.
            logger.warning("Worker heartbeat not recorded (REDIS_URL unreachable): %s", exc)
