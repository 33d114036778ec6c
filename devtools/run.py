"""`make run`: set everything up and run the whole product on this machine until Ctrl-C.

Migrates, loads the demo data, makes sure a Redis answers (starting one if needed), then runs the
Procfile's processes — gunicorn, the three Celery workers and beat, as in production — through
honcho (devtools/procfile.py), each line of output prefixed with its name, and prints where to
look once /healthz answers. When any of them dies, or on Ctrl-C, every process it started stops
and none is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools.dotenv import dotenv_prepare
from devtools.procfile import ProcfileRun
from devtools.redis_server import LocalRedis, RedisUnavailable, redis_ensure

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PYTHON = sys.executable
HEALTH_TIMEOUT_SECONDS = 90
# Small pools: a laptop runs all of it beside a browser. The Procfile's defaults are production's;
# a variable set in the environment (or .env) wins over both.
LAPTOP_SIZES = {
    "WEB_CONCURRENCY": "1",
    "WEB_THREADS": "4",
    "TRANSACTIONAL_CONCURRENCY": "1",
    "WORKER_CONCURRENCY": "1",
    "LONG_CONCURRENCY": "1",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("PORT", "8000")
    env.setdefault("DEBUG", "on")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    for name, value in LAPTOP_SIZES.items():
        env.setdefault(name, value)
    # The Procfile names `gunicorn` and `celery`: this virtualenv's (not resolved: a venv's python
    # is a symlink to the system one, whose directory has neither).
    env["PATH"] = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])
    return env


def _prepare_database(env: dict[str, str]) -> list[str] | int:
    """Migrate and load the demo data; the staff login lines, or an exit code on failure."""
    print("Preparing the database…", flush=True)
    for step in (("migrate", "--noinput"), ("load_demo",)):
        result = _manage(*step, env=env)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            print(
                f"error: `manage.py {' '.join(step)}` failed; nothing was started.", file=sys.stderr
            )
            return result.returncode or 1
    return [line for line in result.stdout.splitlines() if line.strip()]


def _wait_healthy(url: str, run: ProcfileRun, stopping: threading.Event) -> bool:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline and run.running() and not stopping.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stopping.wait(0.5)
    return False


def _banner(base: str, login_lines: list[str]) -> str:
    return "\n".join(
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
    )


def main() -> int:
    dotenv_prepare()  # .env: what make run sees, every manage.py command sees
    env = _environment()
    prepared = _prepare_database(env)
    if isinstance(prepared, int):
        return prepared

    try:
        local_redis: LocalRedis | None = redis_ensure(
            env["REDIS_URL"], data_dir=VAR / "redis", persistent=True
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
        print(f"Using the Redis that answers at {env['REDIS_URL']}.")

    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    base = f"http://127.0.0.1:{env['PORT']}"
    run = ProcfileRun(env=env)
    try:
        if _wait_healthy(f"{base}/healthz", run, stopping):
            print(_banner(base, prepared), flush=True)
        elif run.running() and not stopping.is_set():
            print(
                f"warning: {base}/healthz did not answer 200 within {HEALTH_TIMEOUT_SECONDS} s; "
                "see the logs above.",
                flush=True,
            )
        while run.running() and not stopping.is_set():
            stopping.wait(0.5)
    finally:
        print("Stopping…", flush=True)
        run.stop()
        if local_redis is not None:
            local_redis.stop()
        print("Stopped.", flush=True)
    if not stopping.is_set():
        print("A process stopped (see above), so everything else was stopped.", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
