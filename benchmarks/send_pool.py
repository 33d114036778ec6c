"""The send benchmark's machinery: the product's worker pool, CPU accounting, the bench's Redis.

Split from send_path.py, which drives one run with these.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from benchmarks import probes

ROOT = Path(__file__).resolve().parent.parent
LOCK_KEY = "newsdesk-bench:send-path:lock"
QUEUES = "transactional,bulk,default"  # the production worker's queues (send_batch is on bulk)


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


class WorkerPool:
    """The product's Celery worker on the bench's database and sink, counters on (probes.py)."""

    def __init__(self, *, env: dict[str, str], concurrency: int, log_path: Path) -> None:
        self.name = f"bench-{os.getpid()}@localhost"
        self.env = env
        self.concurrency = concurrency
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 90.0) -> None:
        from config.celery_app import app

        command = [sys.executable, "-m", "benchmarks.probes", "worker", "-A", "config", "worker"]
        command += ["-Q", QUEUES, "-c", str(self.concurrency), "-n", self.name]
        command += ["--without-mingle", "--without-gossip"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.log_tail()}")
            if app.control.ping(destination=[self.name], timeout=0.5) and (
                len(self.pool_processes()) >= self.concurrency
            ):
                return
        raise RuntimeError(f"the worker did not answer within {timeout:.0f} s:\n{self.log_tail()}")

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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


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
