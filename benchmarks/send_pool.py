"""The send benchmark's machinery: the product's worker pool, CPU accounting, the bench's Redis.

The pool is devtools/workers.py's launcher (the one `make run` and the tests use) with the bench's
counters and process accounting on top.

Split from send_path.py, which drives one run with these.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from benchmarks import probes
from devtools.workers import Worker

LOCK_KEY = "newsdesk-bench:send-path:lock"


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


# --- CPU accounting ------------------------------------------------------------------------------


class CpuTracker:
    """CPU seconds spent by a changing set of processes between start() and stop().

    Processes are sampled every `interval` seconds: one born and gone between two samples is
    missed, one that exits counts up to its last sample.
    """

    def __init__(self, find: Callable[[], list[psutil.Process]], interval: float = 0.5) -> None:
        self.find = find
        self.interval = interval
        self.baseline: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, *, first: bool) -> None:
        for process in self.find():
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            # A process born during the run spent all of its CPU inside the run.
            self.baseline.setdefault(process.pid, times.user + times.system if first else 0.0)
            self.last[process.pid] = times.user + times.system

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def start(self) -> CpuTracker:
        self.baseline, self.last = {}, {}
        self._stop.clear()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(first=False)
        return sum(self.last[pid] - self.baseline[pid] for pid in self.last)


def postgres_backends(database: str) -> Callable[[], list[psutil.Process]]:
    # Server processes working for the bench's database: a backend per connection (titled
    # "postgres: user database host …") and autovacuum on it; not the server-wide WAL writer.
    def find() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            title = " ".join(process.info["cmdline"] or [])
            if title.startswith("postgres:") and f" {database} " in f"{title} ":
                found.append(process)
        return found

    return find


def redis_cpu() -> float:
    # Redis's own account of its CPU: all its clients, other people's tests included.
    info: dict[str, Any] = redis_client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --- The worker pool -----------------------------------------------------------------------------


class WorkerPool(Worker):
    """The product's Celery worker on the bench's database and sink, counters on (probes.py).

    Started through `benchmarks.probes worker`, which is `celery` with the counters installed; up
    once it answers a ping and its whole pool is forked (an unforked process would start its
    cold import inside the first run).
    """

    def __init__(self, *, env: dict[str, str], concurrency: int, log_path: Path) -> None:
        super().__init__(
            env=env,
            name=f"bench-{os.getpid()}@localhost",
            concurrency=concurrency,
            log_level=None,
            log_path=log_path,
            runner=(sys.executable, "-m", "benchmarks.probes", "worker"),
        )

    def start(self, *, wait: bool = True, timeout: float = 90.0) -> None:
        super().start(wait=wait, timeout=timeout)

    def ready(self) -> bool:
        return super().ready() and len(self.pool_processes()) >= self.concurrency

    def stop(self, *, timeout: float = 30.0) -> None:
        super().stop(timeout=timeout)

    def pool_processes(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return [psutil.Process(self.process.pid), *self.pool_processes()]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_mb(self) -> dict[str, float]:
        assert self.process is not None
        peaks = {"main": probes.peak_rss_kb(self.process.pid) / 1024}
        for number, child in enumerate(self.pool_processes(), start=1):
            peaks[f"pool-{number}"] = probes.peak_rss_kb(child.pid) / 1024
        return {name: round(mb, 1) for name, mb in peaks.items()}


# --- Redis ---------------------------------------------------------------------------------------


def redis_prepare() -> None:
    """Take the bench's lock on this Redis database and clear what a killed run may have left.

    Stale tasks would name digests of another (dropped) database, and stale batch markers would
    stop new batches from being queued: either would falsify the figures.
    """
    from config.celery_app import app

    client = redis_client()
    if not client.set(LOCK_KEY, str(os.getpid()), nx=True, ex=6 * 3600):
        raise SystemExit(
            f"another send benchmark (pid {client.get(LOCK_KEY)!r}) holds {LOCK_KEY} on "
            "REDIS_URL; wait for it, or delete the key if that process is gone"
        )
    app.control.purge()
    for pattern in ("newsdesk:batch-queued:*", "newsdesk:throttle:*", "unacked*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


def redis_release() -> None:
    client = redis_client()
    if client.get(LOCK_KEY) == str(os.getpid()).encode():
        client.delete(probes.COUNTERS_KEY, LOCK_KEY)
