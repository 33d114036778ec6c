"""Celery workers the developer's kit starts: the test suite's and the benchmarks'.

(`make run` runs the Procfile's, as production does.) One launcher so the two agree on the command
(`celery -A config worker -Q …`, as in production), on running each worker in a session of its own
(so stopping it stops its prefork pool too) and on what "up" and "idle" mean: up is answering a
broadcast ping by its name, idle is no task reported active. Test and bench workers skip mingle
and gossip (syncing with other workers at start and after): they work alone, and the sync only
slows their start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# Every queue: one kit worker stands in for all of the Procfile's (transactional, worker, long).
QUEUES = "transactional,bulk,default,long"
CELERY = (sys.executable, "-m", "celery")


def database_url(settings_dict: dict[str, Any]) -> str:
    """DATABASE_URL naming the database of `settings_dict` (a test run's, not the configured)."""
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


class Worker:
    """One `celery worker` process (and its pool), started in a session of its own.

    Output goes to `log_path` (appended, so a restarted worker's log keeps what came before), or
    to a pipe in `process.stdout` for a caller that shows it. A worker without a
    `name` gets Celery's default and cannot be pinged by name: start it with `wait=False`.
    """

    def __init__(
        self,
        *,
        env: dict[str, str],
        name: str | None = None,
        queues: str = QUEUES,
        concurrency: int = 2,
        log_level: str | None = "INFO",
        log_path: Path | None = None,
        gossip: bool = False,
        runner: Sequence[str] = CELERY,
    ) -> None:
        self.env = env
        self.name = name
        self.concurrency = concurrency
        self.queues = queues.split(",")
        self.log_path = log_path
        self.command = [*runner, "-A", "config", "worker", "-Q", queues, "-c", str(concurrency)]
        if name:
            self.command += ["-n", name]
        if log_level:
            self.command += ["-l", log_level]
        if not gossip:
            self.command += ["--without-mingle", "--without-gossip"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Start the worker; with `wait`, return only once it is `ready()` (else stop it, raise)."""
        if self.log_path is None:
            self.process = self._popen(subprocess.PIPE)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log:
                self.process = self._popen(log)
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.ready():
                return
        self.stop()
        raise RuntimeError(f"worker was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _popen(self, stdout: Any) -> subprocess.Popen[bytes]:
        # A session of its own: a terminal's Ctrl-C reaches only the caller, and stop()/kill()
        # signal the whole process group, prefork pool included.
        return subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        """Whether the worker takes tasks; subclasses may ask more (a full pool, say)."""
        return self.ping()

    def ping(self, *, timeout: float = 0.5) -> bool:
        """Whether the worker answers a ping by its name within `timeout` seconds."""
        from config.celery_app import app

        return bool(app.control.ping(destination=[self._named()], timeout=timeout))

    def _named(self) -> str:
        # Control commands reach a worker by name; Celery's default one is not unique per host.
        if self.name is None:
            raise ValueError("control commands reach only a worker started with a name")
        return self.name

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM (a warm shutdown: running tasks finish), then SIGKILL after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as the OOM killer or a lost host."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def wait_until_idle(self, *, timeout: float = 20.0) -> bool:
        """Wait until the worker runs no task, holds none, and none waits in its queues; False
        on timeout.

        A task still running when a transactional test ends would hold row locks while the
        test's database is truncated, and PostgreSQL ends one of the two with a deadlock. A task
        the test queued just before it ended (a snapshot's batches, say) is as bad once it
        starts, so queued and prefetched ones count too. Asked twice in a row: a task that
        ends between the looks may have queued another.
        """
        if not self.alive():
            return True
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self._holds_nothing() else 0
            if quiet == 2:
                return True
            time.sleep(0.02)
        return False

    def _holds_nothing(self) -> bool:
        from config.celery_app import app

        if self._queued():
            return False
        name = self._named()
        inspect = app.control.inspect(destination=[name], timeout=0.5, limit=1)
        # Tasks waiting for their ETA (a retry's countdown) are left out: they may be minutes
        # away, and the tests that leave one behind do not meet it.
        for ask in (inspect.active, inspect.reserved):
            if (ask() or {}).get(name) != []:
                return False
        return not self._queued()

    def _queued(self) -> int:
        """Messages waiting in the worker's queues on the broker."""
        from config.celery_app import app

        with app.connection_for_read() as connection:
            channel: Any = connection.default_channel  # kombu types it as the AMQP-less base
            # kombu's Redis transport: declaring an existing queue changes nothing and counts it.
            return sum(channel.queue_declare(queue=q).message_count for q in self.queues)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None:
            return "(output goes to the caller's pipe)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- The test suite's workers --------------------------------------------------------------------


def worker_env(
    *, db_url: str, email_url: str, settings_module: str | None = None
) -> dict[str, str]:
    """A test worker's environment: the test run's database, a sink as mail server, our Redis."""
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
    return env


def suite_worker(*, env: dict[str, str], name: str, queues: str = QUEUES) -> Worker:
    """A test worker named `name` (`<prefix>@host`), logging to var/<prefix>.log."""
    log_path = ROOT / "var" / f"{name.split('@')[0]}.log"
    return Worker(env=env, name=name, queues=queues, log_path=log_path)


def shared_worker_name() -> str:
    """The name of the suite's own worker (tests/conftest.py), one per test process."""
    return f"pytest-{os.getpid()}@localhost"


@contextmanager
def own_bulk_worker(
    *, db_url: str, email_url: str, name: str, settings_module: str | None = None
) -> Iterator[Worker]:
    """A worker of a test module's own on the `bulk` queue: its own mail server and settings.

    The suite's shared worker (if one runs) stops consuming `bulk` meanwhile, so every batch of
    the module goes to this worker; it consumes `bulk` again afterwards.
    """
    from config.celery_app import app

    env = worker_env(db_url=db_url, email_url=email_url, settings_module=settings_module)
    shared = [shared_worker_name()]
    app.control.cancel_consumer("bulk", destination=shared, reply=True, timeout=1)
    worker = suite_worker(env=env, name=f"{name}-{os.getpid()}@localhost", queues="bulk")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.control.add_consumer("bulk", destination=shared, reply=True, timeout=1)
