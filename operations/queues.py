"""Whether the workers keep up: workers seen lately, beat's last tick, and how many tasks wait in
each Celery queue, read from the heartbeats and the broker's own lists in Redis."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from django.conf import settings

from operations import heartbeat
from operations.redis_client import redis_client

# Kombu's Redis transport keeps a list per queue, plus one per priority step it was given.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED_KEY = "unacked"


@dataclass(frozen=True)
class QueueLength:
    name: str
    waiting: int


@dataclass(frozen=True)
class WorkerHealth:
    is_redis_up: bool
    workers_alive: int = 0
    beat_seconds_ago: float | None = None
    queues: list[QueueLength] = field(default_factory=list)
    in_progress: int = 0  # tasks a worker has taken and not yet acknowledged

    @property
    def is_beat_late(self) -> bool:
        return self.beat_seconds_ago is None or self.beat_seconds_ago > 120


def queue_names() -> list[str]:
    return [str(queue.name) for queue in settings.CELERY_TASK_QUEUES]


def worker_health() -> WorkerHealth:
    """Workers seen lately, beat's last tick, and how many tasks wait in each queue."""
    names = queue_names()
    try:
        pipe = redis_client().pipeline()
        for name in names:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEP}{step}")
        pipe.hlen(_UNACKED_KEY)
        lengths = pipe.execute()
        alive = heartbeat.alive_worker_count()
        beat = heartbeat.beat_last_tick_age()
    except redis.RedisError:
        return WorkerHealth(is_redis_up=False)
    per_queue = len(_PRIORITY_STEPS) + 1
    queues = [
        QueueLength(name=name, waiting=sum(lengths[i * per_queue : (i + 1) * per_queue]))
        for i, name in enumerate(names)
    ]
    return WorkerHealth(
        is_redis_up=True,
        workers_alive=alive,
        beat_seconds_ago=None if beat is None else round(beat, 1),
        queues=queues,
        in_progress=int(lengths[-1]),
    )
