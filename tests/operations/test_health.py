from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings

from devtools.ports import free_port
from devtools.workers import Worker
from operations import heartbeat
from operations.redis_client import redis_client


@pytest.mark.integration
def test_healthz_is_200_with_database_redis_and_a_live_worker(
    celery_worker: Worker, client: Client
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["worker"]["ok"] is True
    assert body["worker"]["alive"] >= 1
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_is_503_and_says_redis_when_redis_is_unreachable(client: Client) -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["database"]["ok"] is True
    assert body["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["worker"]["ok"] is False


@pytest.mark.django_db
def test_healthz_is_503_when_no_worker_stamped_recently(client: Client) -> None:
    # Its own Redis database, so the suite's live worker does not stamp into it.
    with override_settings(REDIS_URL=_other_database(14)):
        redis_client().delete(heartbeat.WORKERS_KEY)
        heartbeat.worker_heartbeat_record(hostname="gone@host", now=time.time() - 60)
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["worker"] == {"ok": False, "alive": 0}


def test_alive_worker_count_counts_only_recent_stamps() -> None:
    with override_settings(REDIS_URL=_other_database(14)):
        redis_client().delete(heartbeat.WORKERS_KEY)
        now = time.time()
        heartbeat.worker_heartbeat_record(hostname="a@h", now=now - 1)
        heartbeat.worker_heartbeat_record(
            hostname="b@h", now=now - heartbeat.WORKER_STALE_AFTER - 1
        )
        heartbeat.worker_heartbeat_record(hostname="c@h", now=now)

        assert heartbeat.alive_worker_count(now=now) == 2
        heartbeat.worker_heartbeat_remove(hostname="c@h")
        assert heartbeat.alive_worker_count(now=now) == 1


def test_beat_tick_age() -> None:
    with override_settings(REDIS_URL=_other_database(14)):
        redis_client().delete(heartbeat.BEAT_KEY)
        assert heartbeat.beat_last_tick_age() is None
        heartbeat.beat_tick_record(now=1000.0)
        assert heartbeat.beat_last_tick_age(now=1012.5) == pytest.approx(12.5)


def _other_database(number: int) -> str:
    from django.conf import settings

    from devtools.with_redis import with_database

    return with_database(settings.REDIS_URL, number)
