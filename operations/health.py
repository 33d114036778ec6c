"""The checks behind /healthz: is each part the product needs to send mail up right now?"""

from __future__ import annotations

from typing import Any

import redis
from django.db import DatabaseError, connection

from operations import heartbeat
from operations.redis_client import redis_client


def health_report() -> dict[str, Any]:
    """Each component's state; `ok` is true only when the database, Redis and a worker all are.

    Beat is reported but does not decide `ok`: web nodes behind a load balancer must not be taken
    out of service because the (single) scheduler process is restarting.
    """
    database = _database()
    redis_part = _redis()
    worker: dict[str, Any] = {"ok": False, "alive": 0}
    beat: dict[str, Any] = {"ok": False, "last_tick_seconds_ago": None}
    if redis_part["ok"]:
        try:
            alive = heartbeat.alive_worker_count()
            worker = {"ok": alive > 0, "alive": alive}
            age = heartbeat.beat_last_tick_age()
            beat = {
                "ok": age is not None and age < 120,
                "last_tick_seconds_ago": None if age is None else round(age, 1),
            }
        except redis.RedisError as exc:
            redis_part = {"ok": False, "error": type(exc).__name__}
    return {
        "ok": database["ok"] and redis_part["ok"] and worker["ok"],
        "database": database,
        "redis": redis_part,
        "worker": worker,
        "beat": beat,
    }


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor}


def _redis() -> dict[str, Any]:
    try:
        redis_client().ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}
