"""Run a command with a Redis answering at REDIS_URL.

Usage: `python -m devtools.with_redis [--db N] -- CMD ...`.

`make test` uses it so the suite needs no Redis installed or running beforehand. A server it had to
start is stopped when the command ends. `--db N` gives the command its own Redis database number,
so tests never touch the queues of a `make run` sharing the same server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devtools.redis_server import RedisUnavailable, redis_ensure

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def with_database(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=int, default=None, help="Redis database number to use")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if args.db is not None:
        url = with_database(url, args.db)
    var_dir = Path(__file__).resolve().parent.parent / "var"
    try:
        local = redis_ensure(url, data_dir=var_dir / "redis-test", persistent=False)
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if local is not None:
        print(
            f"Started a local Redis ({local.binary}) on port {local.port} for this run.", flush=True
        )
    try:
        return subprocess.call(command, env={**os.environ, "REDIS_URL": url})
    except KeyboardInterrupt:
        return 130
    finally:
        if local is not None:
            local.stop()


if __name__ == "__main__":
    sys.exit(main())
