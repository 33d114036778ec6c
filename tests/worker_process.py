"""A real Celery worker in its own process, pointed at the test database and the SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from config.celery_app import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def shared_worker_name() -> str:
    """The name of the suite's own worker (tests/conftest.py), one per test process."""
    return f"pytest-{os.getpid()}@localhost"


def database_url(settings_dict: dict[str, Any]) -> str:
    """DATABASE_URL naming the database the test run created (not the one in settings)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise NotImplementedError(f"no worker DATABASE_URL for {engine}")


class WorkerProcess:
    def __init__(
        self,
        *,
        env: dict[str, str],
        name: str,
        concurrency: int = 2,
        queues: str = "transactional,bulk,default",
    ) -> None:
        self.name = name
        self.log_path = ROOT / "var" / f"{name.split('@')[0]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            name,
            "-l",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - the worker writes to it until stop()
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if celery_app.control.ping(destination=[self.name], timeout=0.5):
                return
        self.stop()
        raise RuntimeError(
            f"worker did not answer a ping within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as the OOM killer or a lost host."""
        assert self.process is not None
        os.killpg(self.process.pid, 9)
        self.process.wait()

    def stop(self, *, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def wait_until_idle(self, *, timeout: float = 20.0) -> bool:
        """Wait until the worker is running no task; False on timeout.

        A task still running when a transactional test ends would hold row locks while the
        test's database is truncated, and PostgreSQL ends one of the two with a deadlock.
        """
        if self.process is None or self.process.poll() is not None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = celery_app.control.inspect(
                destination=[self.name], timeout=0.5, limit=1
            ).active()
            running = (replies or {}).get(self.name)
            if running == []:
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextmanager
def own_bulk_worker(
    *, db_url: str, email_url: str, name: str, settings_module: str | None = None
) -> Iterator[WorkerProcess]:
    """A worker of a test module's own on the `bulk` queue: its own mail server and settings.

    The suite's shared worker (if one runs) stops consuming `bulk` meanwhile, so every batch of
    the module goes to this worker; it consumes `bulk` again afterwards.
    """
    from django.conf import settings

    env = {
        **os.environ,
        "DEBUG": "on",
        "DATABASE_URL": db_url,
        "EMAIL_URL": email_url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    shared = [shared_worker_name()]
    celery_app.control.cancel_consumer("bulk", destination=shared, reply=True, timeout=1)
    worker = WorkerProcess(env=env, name=f"{name}-{os.getpid()}@localhost", queues="bulk")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        celery_app.control.add_consumer("bulk", destination=shared, reply=True, timeout=1)
