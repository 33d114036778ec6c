"""`make run`: set everything up and run the whole product on this machine until Ctrl-C.

Migrates, loads the demo data, makes sure a Redis answers (starting one if needed), then runs a
Celery worker, Celery beat and the web server side by side, each line of output prefixed with its
name. When any of them dies, or on Ctrl-C, it stops every process it started and leaves none behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devtools.redis_server import LocalRedis, RedisUnavailable, redis_ensure
from devtools.workers import Worker

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PYTHON = sys.executable
STOP_GRACE_SECONDS = 10.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    pump: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.pump = threading.Thread(
            target=_prefix_lines, args=(self.name, self.process.stdout), daemon=True
        )
        self.pump.start()


def _prefix_lines(name: str, stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        sys.stdout.write(f"{name:>6} | {raw.decode('utf-8', errors='replace')}")
        sys.stdout.flush()


def _start(name: str, command: list[str], env: dict[str, str]) -> Child:
    # A session of its own: the terminal's Ctrl-C reaches only us, and we stop each child's whole
    # process group (a prefork worker's pool, runserver's reloader) in order.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Child(name=name, process=process)


def _stop(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            _signal_group(child.process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Kill whatever is left of the group, including grandchildren that outlived their parent.
        _signal_group(child.process, signal.SIGKILL)
        child.process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _wait_healthy(url: str, children: list[Child], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.process.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def main() -> int:
    port = os.environ.get("PORT", "8000")
    env = {**os.environ, "PORT": port, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DEBUG", "on")
    redis_url = env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

    print("Preparing the database…", flush=True)
    for step in (("migrate", "--noinput"), ("load_demo",)):
        result = _manage(*step, env=env)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            print(
                f"error: `manage.py {' '.join(step)}` failed; nothing was started.", file=sys.stderr
            )
            return result.returncode or 1
    login_lines = [line for line in result.stdout.splitlines() if line.strip()]

    try:
        local_redis: LocalRedis | None = redis_ensure(
            redis_url, data_dir=VAR / "redis", persistent=True
        )
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if local_redis is not None:
        print(
            f"Started Redis ({local_redis.binary}) on 127.0.0.1:{local_redis.port}, "
            "data in var/redis."
        )
    else:
        print(f"Using the Redis that answers at {redis_url}.")

    # The worker as in production: Celery's own name, mingle and gossip on, output shown here.
    worker = Worker(env=env, gossip=True)
    worker.start(wait=False)
    assert worker.process is not None
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    children = [
        Child(name="worker", process=worker.process),
        _start(
            "beat", [*celery, "beat", "-l", "INFO", "-s", str(VAR / "celerybeat-schedule")], env
        ),
        _start("web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"], env),
    ]

    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    exit_code = 0
    base = f"http://127.0.0.1:{port}"
    if _wait_healthy(f"{base}/healthz", children, timeout=90):
        print(
            "\n".join(
                [
                    "",
                    "  The newsletter manager is running.",
                    f"    Demo article with the signup footer  {base}/",
                    f"    Admin                                {base}/admin/",
                    f"    Local outbox (mail sent)             {base}/admin/outbox/",
                    f"    Newsletter archive                   {base}/archive/",
                    f"    Health                               {base}/healthz",
                    *(f"    {line}" for line in login_lines),
                    "  Press Ctrl-C to stop everything.",
                    "",
                ]
            ),
            flush=True,
        )
    elif not stopping.is_set():
        print(
            f"warning: {base}/healthz did not answer 200 within 90 s; see the logs above.",
            flush=True,
        )

    try:
        while not stopping.is_set():
            dead = [child for child in children if child.process.poll() is not None]
            if dead:
                names = ", ".join(f"{c.name} (exit {c.process.returncode})" for c in dead)
                print(f"{names} stopped; stopping everything else.", flush=True)
                exit_code = 1
                break
            stopping.wait(0.5)
    finally:
        print("Stopping…", flush=True)
        _stop(children)
        if local_redis is not None:
            local_redis.stop()
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
