"""The product's Celery processes, started by the send benchmark with counters switched on.

- `python -m benchmarks.probes worker <celery args…>` is `celery <celery args…>` (the same worker,
  pool and settings) plus counters: tasks published and their bytes on the broker, tasks run and
  the CPU spent inside them, kept in one Redis hash the benchmark reads.
- `python -m benchmarks.probes produce` does what the beat tick does — `digests_dispatch_due()` —
  in a process of its own, so the producer's memory and time are its own and not the bench's
  (which built a million rows first). It prints one JSON line: when it claimed, how long the
  audience snapshot and the enqueueing took, and its peak RSS.

The counters are kept in the process and added to Redis in one round trip after each task (and
at the producer's end): nothing per recipient, one pipeline per task of hundreds of them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

COUNTERS_KEY = "newsdesk-bench:celery-counters"


@functools.cache
def _client() -> redis.Redis:
    # One client (and connection pool) per process: a new one per task flush cost the worker a
    # connect and a garbage-collected disconnect per batch, counted in its CPU per message.
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def counters_reset() -> None:
    _client().delete(COUNTERS_KEY)


def counters_read() -> dict[str, float]:
    raw: dict[bytes, bytes] = _client().hgetall(COUNTERS_KEY)  # type: ignore[assignment]
    return {key.decode(): float(value) for key, value in raw.items()}


def peak_rss_kb(pid: int | str = "self") -> int:
    """The process's peak resident set size (VmHWM), in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def schedstat(pid: int | str = "self") -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process's main thread.

    From /proc/PID/schedstat: with the wall time of a run, the rest is time blocked (waiting
    for a reply, a lock, a sleep) — what tells a CPU-bound process from a waiting one.
    """
    try:
        on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def time_split(*, wall_s: float, on_cpu_s: float, waiting_s: float, per: int) -> dict[str, float]:
    """Wall time of processes split into on CPU / waiting for a CPU / blocked, in ms per `per`."""
    blocked = max(0.0, wall_s - on_cpu_s - waiting_s)
    return {
        "on_cpu": round(on_cpu_s / per * 1000, 3),
        "waiting_for_cpu": round(waiting_s / per * 1000, 3),
        "blocked": round(blocked / per * 1000, 3),
    }


# This process's counts since its last flush: added to the Redis hash after each task (worker)
# or at the end (producer), so counting costs no round trip per publish.
_pending: dict[str, float] = {}


def _count(key: str, amount: float = 1.0) -> None:
    _pending[key] = _pending.get(key, 0.0) + amount


def counters_flush() -> None:
    if not _pending:
        return
    pipe = _client().pipeline(transaction=False)
    for key, amount in _pending.items():
        pipe.hincrbyfloat(COUNTERS_KEY, key, amount)
    pipe.execute()
    _pending.clear()


def counters_install() -> None:
    """Count this process's task publishes (with their broker bytes) and task runs."""
    from celery import signals

    started_at = {"cpu": 0.0, "wall": 0.0}

    def published(sender: str | None = None, **_: Any) -> None:
        _count("published")
        _count(f"published:{sender}")

    def started(**_: Any) -> None:
        started_at["cpu"], started_at["wall"] = time.process_time(), time.perf_counter()

    def finished(sender: Any = None, **_: Any) -> None:
        _count("run")
        _count(f"run:{getattr(sender, 'name', sender)}")
        _count("run_cpu_s", time.process_time() - started_at["cpu"])
        _count("run_wall_s", time.perf_counter() - started_at["wall"])
        counters_flush()

    signals.after_task_publish.connect(published, weak=False)
    signals.task_prerun.connect(started, weak=False)
    signals.task_postrun.connect(finished, weak=False)
    # A pool process starts with its own counts, not a copy of its parent's.
    signals.worker_process_init.connect(lambda **_: _pending.clear(), weak=False)
    _broker_bytes_install()


def _broker_bytes_install() -> None:
    # The bytes a task puts on the broker: the JSON envelope (body, headers, properties) that
    # kombu's Redis transport LPUSHes. The transport keeps a second copy in its "unacked" hash
    # while a worker runs the task (acks_late), so Redis writes about twice this. Replies to
    # remote control (the bench's ping) go through here too and are not tasks: not counted.
    from kombu.transport import redis as transport
    from kombu.utils.json import dumps

    original = transport.Channel._put

    @functools.wraps(original)
    def _put(self: Any, queue: str, message: Any, **kwargs: Any) -> Any:
        headers = message.get("headers") if isinstance(message, dict) else None
        if isinstance(headers, dict) and headers.get("task"):
            _count("published_bytes", len(dumps(message).encode()))
        return original(self, queue, message, **kwargs)

    transport.Channel._put = _put  # type: ignore[method-assign]


# --- Timing the steps of a send (the profiled run only) -------------------------------------------

STEPS_ENV = "NEWSDESK_BENCH_STEPS"
# The engine's steps, each timed where it is called (a module or class attribute looked up at call
# time), by the paths it has had: whichever exist are timed, the others left out. Each step's time
# is its own, without the steps nested in it, so nothing is counted twice however they call
# each other.
STEPS: dict[str, tuple[str, list[str]]] = {
    "batch": (
        "batch's own work: claim UPDATE, load rows, state checks, release, finish",
        ["newsletters.delivery.batch:_batch_run", "newsletters.sending:_batch_run"],
    ),
    "group": (
        "group's own work: subscription + suppression re-check, the loop",
        ["newsletters.delivery.batch:_group_send", "newsletters.sending:_group_send"],
    ),
    "smtp": ("smtp: handing the message over (smtplib)", ["operations.transport:message_send"]),
    "record": (
        "ledger: recording outcomes",
        [
            "newsletters.delivery.record:sent_record",
            "newsletters.delivery.record:SentMarks.mark",
            "newsletters.delivery.record:SentMarks.settle",
            "newsletters.delivery.failures:failure_record",
            "newsletters.delivery.batch:_record_failure",
            "newsletters.delivery.batch:_record",
            "newsletters.sending:_record",
        ],
    ),
    "recipient_values": (
        "per-reader values: signed links (mime.recipient_values)",
        ["newsletters.delivery.messages:recipient_values"],
    ),
    "message_bytes": (
        "per-reader bytes: segment join (mime.message_bytes)",
        ["newsletters.delivery.messages:message_bytes"],
    ),
    "throttle": (
        "throttle: shared token bucket",
        ["newsletters.delivery.batch:_throttle_wait", "newsletters.sending:_throttle_wait"],
    ),
}


def _resolve(path: str) -> tuple[Any, str] | None:
    """(owner, attribute) for "module:Attr.attr", or None if the engine has no such thing."""
    import importlib

    module_name, _, dotted = path.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    *owners, attribute = dotted.split(".")
    for name in owners:
        owner = getattr(owner, name, None)
        if owner is None:
            return None
    return (owner, attribute) if callable(getattr(owner, attribute, None)) else None


def steps_install() -> None:
    """In a pool process: CPU and wall seconds per step, added to the counters after each task."""
    from celery import signals

    totals: dict[str, list[float]] = {}  # step -> [own cpu, own wall, calls]
    nested: list[list[float]] = []  # per open step: [cpu, wall] spent in steps nested in it

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        slot = totals.setdefault(name, [0.0, 0.0, 0.0])

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nested.append([0.0, 0.0])
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                inner = nested.pop()
                slot[0] += cpu - inner[0]
                slot[1] += wall - inner[1]
                slot[2] += 1
                if nested:
                    nested[-1][0] += cpu
                    nested[-1][1] += wall

        return wrapper

    for name, (_, paths) in STEPS.items():
        for path in paths:
            found = _resolve(path)
            if found is not None:
                owner, attribute = found
                setattr(owner, attribute, timed(name, getattr(owner, attribute)))

    def flush(**_: Any) -> None:
        pipe = _client().pipeline(transaction=False)
        for name, slot in totals.items():
            pipe.hincrbyfloat(COUNTERS_KEY, f"step:{name}:cpu_s", slot[0])
            pipe.hincrbyfloat(COUNTERS_KEY, f"step:{name}:wall_s", slot[1])
            pipe.hincrbyfloat(COUNTERS_KEY, f"step:{name}:calls", slot[2])
            slot[:] = [0.0, 0.0, 0.0]
        pipe.execute()

    signals.task_postrun.connect(flush, weak=False)


def steps_summary(counters: dict[str, float], *, n: int, tree_cpu_s: float) -> dict[str, Any]:
    """Per message sent: CPU and wall ms of each step's own work, then what no step covers."""
    parts: dict[str, tuple[float, float]] = {}
    for name, (label, _) in STEPS.items():
        if f"step:{name}:calls" in counters:
            parts[label] = (counters[f"step:{name}:cpu_s"], counters[f"step:{name}:wall_s"])
    in_steps = (sum(cpu for cpu, _ in parts.values()), sum(wall for _, wall in parts.values()))
    run = counters.get("run_cpu_s", 0.0), counters.get("run_wall_s", 0.0)
    parts["task's rest: batch marker, Celery's task call"] = (
        run[0] - in_steps[0],
        run[1] - in_steps[1],
    )
    parts["worker outside tasks: consumer, broker, acks, pool (CPU only)"] = (
        tree_cpu_s - run[0],
        0,
    )
    return {
        label: {"cpu_ms": round(cpu / n * 1000, 4), "wall_ms": round(wall / n * 1000, 4)}
        for label, (cpu, wall) in parts.items()
    }


# --- Timing the snapshot --------------------------------------------------------------------------


@dataclass
class SnapshotTimes:
    snapshot_s: list[float] = field(default_factory=list)  # digest_snapshot, enqueue excluded
    enqueue_s: float = 0.0


@contextmanager
def snapshot_timed(*, enqueue: bool) -> Iterator[SnapshotTimes]:
    """Time `snapshot.digest_snapshot` without the batches it enqueues (or without enqueueing).

    The snapshot hands its batches to `batches_enqueue` on commit, which runs inside the same
    call when no transaction is open; that time is measured apart and subtracted.
    """
    from newsletters.delivery import fanout, snapshot

    times = SnapshotTimes()
    snapshot_original = snapshot.digest_snapshot
    enqueue_original: Callable[..., Any] | None = getattr(fanout, "batches_enqueue", None)
    inside = {"enqueue": 0.0}

    def enqueue_wrapped(*args: Any, **kwargs: Any) -> Any:
        if not enqueue or enqueue_original is None:
            return 0
        started = time.perf_counter()
        try:
            return enqueue_original(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            inside["enqueue"] += spent
            times.enqueue_s += spent

    def snapshot_wrapped(*args: Any, **kwargs: Any) -> Any:
        inside["enqueue"] = 0.0
        started = time.perf_counter()
        try:
            return snapshot_original(*args, **kwargs)
        finally:
            times.snapshot_s.append(time.perf_counter() - started - inside["enqueue"])

    snapshot.digest_snapshot = snapshot_wrapped
    if enqueue_original is not None:
        fanout.batches_enqueue = enqueue_wrapped
    try:
        yield times
    finally:
        snapshot.digest_snapshot = snapshot_original
        if enqueue_original is not None:
            fanout.batches_enqueue = enqueue_original


# --- Roles ---------------------------------------------------------------------------------------


def _produce() -> None:
    import django

    django.setup()
    counters_install()
    from newsletters.delivery import dispatch

    with snapshot_timed(enqueue=True) as times:
        claimed_at = time.time()
        cpu = time.process_time()
        started = dispatch.digests_dispatch_due()
        finished_at = time.time()
    report = {
        "claimed_at": claimed_at,
        "finished_at": finished_at,
        "digests": started,
        # None if the claim did not snapshot here (an engine that snapshots in a task).
        "snapshot_s": sum(times.snapshot_s) if times.snapshot_s else None,
        "enqueue_s": times.enqueue_s,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_kb": peak_rss_kb(),
    }
    counters_flush()
    print(json.dumps(report), flush=True)


def _worker(argv: list[str]) -> None:
    counters_install()
    if os.environ.get(STEPS_ENV):
        from celery import signals

        signals.worker_process_init.connect(lambda **_: steps_install(), weak=False)
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", *argv]
    sys.exit(celery_main())


def main() -> None:
    role, *rest = sys.argv[1:] or [""]
    if role == "produce":
        _produce()
    elif role == "worker":
        _worker(rest)
    else:
        sys.exit("usage: python -m benchmarks.probes produce | worker <celery arguments>")


if __name__ == "__main__":
    main()
