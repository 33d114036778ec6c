"""The production topology on one machine, for fault tests: processes the tests may kill.

A Redis of the test's own (so it can be restarted or flushed without touching anyone else's),
Celery workers and beat as separate process groups — exactly the commands of production — all
on the test's database and sending to an SMTP sink. The test process itself only writes rows
(a scheduled digest) and reads the ledger: everything else is done by beat and the workers, as
in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from devtools.ports import free_port
from devtools.redis_server import LocalRedis, redis_ensure
from devtools.workers import QUEUES, Worker
from mailinglist.models import MailingList, Subscriber, Subscription
from newsletters import scheduling
from newsletters.models import Delivery, Digest
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Beat:
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Cluster:
    """Workers and beats sharing one private Redis, one database and one mail server."""

    db_url: str
    email_url: str
    workdir: Path
    settings_module: str = "config.settings"
    send_rate: float = 0.0
    redis_port: int = field(default_factory=free_port)
    redis: LocalRedis | None = None
    workers: list[Worker] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEBUG": "on",
            "DATABASE_URL": self.db_url,
            "EMAIL_URL": self.email_url,
            "REDIS_URL": self.redis_url,
            "SEND_RATE": str(self.send_rate),
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "PYTHONUNBUFFERED": "1",
        }

    # -- Redis --------------------------------------------------------------------------------

    def redis_start(self) -> None:
        # Append-only file on, as the deployment guide asks: a restart keeps queues and markers.
        self.redis = redis_ensure(self.redis_url, data_dir=self.workdir / "redis", persistent=True)
        assert self.redis is not None, f"something already answers on {self.redis_url}"

    def redis_stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    # -- workers and beat ---------------------------------------------------------------------

    def worker_start(self, name: str, *, concurrency: int = 2) -> Worker:
        worker = Worker(
            env=self.env(),
            name=f"{name}@faults",
            queues=QUEUES,
            concurrency=concurrency,
            log_path=self.workdir / f"{name}.log",
        )
        worker.start(wait=False)
        self.workers.append(worker)
        self._wait_stamped(worker)
        return worker

    def _wait_stamped(self, worker: Worker, timeout: float = 60) -> None:
        # Up means its heartbeat is in (this cluster's) Redis: ping would ask the suite's broker.
        import redis

        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.alive():
                raise RuntimeError(f"worker {worker.name} exited:\n{worker.log_tail()}")
            if client.zscore("newsdesk:heartbeat:workers", str(worker.name)) is not None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker {worker.name} not up within {timeout:.0f} s")

    def beat_start(self) -> Beat:
        n = len(self.beats)
        log_path = self.workdir / f"beat{n}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "INFO",
                    "-s",
                    str(self.workdir / f"beat{n}-schedule"),
                    "--pidfile=",
                ],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        beat = Beat(process=process, log_path=log_path)
        self.beats.append(beat)
        return beat

    def stop(self) -> None:
        for beat in self.beats:
            beat.stop()
        for worker in self.workers:
            worker.stop(timeout=10)
        self.redis_stop()

    def logs(self) -> str:
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)


@contextmanager
def cluster_running(
    *, db_url: str, email_url: str, workdir: Path, **options: object
) -> Iterator[Cluster]:
    cluster = Cluster(db_url=db_url, email_url=email_url, workdir=workdir, **options)  # type: ignore[arg-type]
    cluster.redis_start()
    try:
        yield cluster
    finally:
        cluster.stop()


def readers_add(mailing_list: MailingList, readers: int, *, prefix: str) -> None:
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"{prefix}{n}@example.com", public_id=f"{prefix}-{mailing_list.pk}-{n}")
        for n in range(readers)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=s, mailing_list=mailing_list, state=Subscription.State.ACTIVE)
        for s in subscribers
    )


def scheduled_digest(readers: int, *, prefix: str = "reader") -> Digest:
    """A digest of `readers` active readers, due now: the next beat tick starts it."""
    digest = make_digest(stories=2, mailing_list=MailingListFactory.create())
    readers_add(digest.mailing_list, readers, prefix=prefix)
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    return digest


def sent_count(digest: Digest) -> int:
    return Delivery.objects.filter(digest=digest, state=Delivery.State.SENT).count()


def is_sent(digest: Digest) -> bool:
    return Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists()
