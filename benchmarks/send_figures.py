"""The send benchmark's figures: one run's measurements, and the JSON lines made of several.

Split from send_path.py, which takes the runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks import probes
from benchmarks.report import figure, median
from benchmarks.send_pool import WorkerPool
from benchmarks.smtp_limit import RawRun, raw_figure


@dataclass(frozen=True)
class SendRun:
    n: int
    elapsed_s: float  # the claim to the last sent_at in the ledger
    seen_done_s: float  # the claim to the bench's poll (every 0.2 s) finding nothing owed
    producer: dict[str, Any]  # probes._produce's report
    worker_cpu_s: float  # the worker's process tree, its idle rate subtracted
    other_cpu_s: dict[str, float]  # sink, redis_server, postgres_backends
    pool_size: int
    pool_cpu_s: float  # the pool processes on a CPU …
    pool_waiting_s: float  # … and runnable, waiting for one
    sink: dict[str, Any]
    counters: dict[str, float]  # probes' Redis counters for this send

    @property
    def rate(self) -> float:
        return self.n / self.elapsed_s

    def per_msg_ms(self, seconds: float) -> float:
        return seconds / self.n * 1000

    @property
    def pool_time_per_message(self) -> dict[str, float]:
        # The pool's wall time over the send, per message: on a CPU / waiting for one / blocked.
        return probes.time_split(
            wall_s=self.elapsed_s * self.pool_size,
            on_cpu_s=self.pool_cpu_s,
            waiting_s=self.pool_waiting_s,
            per=self.n,
        )


# --- Figures -------------------------------------------------------------------------------------


def send_figures(
    *, raws: list[RawRun], sends: list[SendRun], pool: WorkerPool, database: str, message_bytes: int
) -> None:
    n = sends[0].n
    common: dict[str, Any] = {
        "database": database,
        "concurrency": pool.concurrency,
        "debug": False,
    }
    middle = sorted(sends, key=lambda run: run.rate)[len(sends) // 2]

    def per_msg(seconds: Callable[[SendRun], float], digits: int = 3) -> float:
        return round(median([run.per_msg_ms(seconds(run)) for run in sends]), digits)

    raw = raw_figure(raws, message_bytes=message_bytes)
    rate = median([run.rate for run in sends])
    figure(
        "send_rate",
        n=n,
        value=round(rate),
        unit="msgs/s",
        ratio_to="smtp_raw_rate",
        ratio=rate / raw["value"],
        target="ratio >= 1.0 on PostgreSQL (floor 0.85), >= 1.1 on SQLite",
        runs=[round(run.rate) for run in sends],
        pair_ratios=[round(s.rate / r.rate, 3) for s, r in zip(sends, raws, strict=True)],
        elapsed_s=round(median([run.elapsed_s for run in sends]), 2),
        seen_done_s=round(median([run.seen_done_s for run in sends]), 2),
        producer_s=round(
            median([run.producer["finished_at"] - run.producer["claimed_at"] for run in sends]), 3
        ),
        pool_ms_per_msg=middle.pool_time_per_message,
        sink_bytes_per_msg=round(middle.sink["bytes"] / n),
        note="beat's claim (digests_dispatch_due) to the last ledger row's sent_at, every row "
        "sent and each reader mailed once; the raw rate is the same sink's in the same run",
        **common,
    )
    cpu_extra: dict[str, Any] = {
        "runs": [round(run.per_msg_ms(run.worker_cpu_s), 3) for run in sends],
        "in_tasks_ms": per_msg(lambda run: run.counters.get("run_cpu_s", 0.0)),
        "sink_ms": per_msg(lambda run: run.other_cpu_s["sink"]),
        "redis_server_ms": per_msg(lambda run: run.other_cpu_s["redis_server"]),
        "producer_ms": per_msg(lambda run: float(run.producer["cpu_s"]), 4),
    }
    if "postgres_backends" in middle.other_cpu_s:
        cpu_extra["postgres_backends_ms"] = per_msg(
            lambda run: run.other_cpu_s["postgres_backends"]
        )
    worker_ms = per_msg(lambda run: run.worker_cpu_s)
    raw_client_us = float(raw["client_cpu_us_per_msg"])
    figure(
        "send_worker_cpu_per_msg",
        n=n,
        value=worker_ms,
        unit="ms",
        # Against the raw smtplib clients' CPU per message in the same run (their smtp_raw_rate).
        ratio_to="smtp_raw_client_cpu_per_msg",
        ratio=worker_ms * 1000 / raw_client_us if raw_client_us else None,
        target="ratio <= 0.8",
        note="user+system CPU of the worker's process tree (main + pool) per message, ledger "
        "included, its idle rate subtracted; in_tasks: inside task bodies; sink, Redis and "
        "PostgreSQL beside it for the whole machine's budget (Redis counts all its clients)",
        **cpu_extra,
        **common,
    )
    peaks = pool.peak_rss_mb()
    figure(
        "send_worker_peak_rss",
        n=n,
        value=max(peaks.values()),
        unit="MB",
        target="grows <= 10 MB from 20,000 to 1,000,000 readers",
        processes=peaks,
        note="VmHWM of each worker process over the bench's life; the largest",
        **common,
    )
    figure(
        "send_producer_peak_rss",
        n=n,
        value=round(max(run.producer["peak_rss_kb"] for run in sends) / 1024, 1),
        unit="MB",
        target="grows <= 10 MB from 20,000 to 1,000,000 readers",
        note="VmHWM of the process that claimed, snapshotted and enqueued (beat's role)",
        **common,
    )
    figure(
        "send_tasks_per_100",
        n=n,
        value=round(median([run.counters.get("published", 0.0) / n * 100 for run in sends]), 3),
        unit="tasks/100 recipients",
        target="<= 1",
        published={k: int(v) for k, v in middle.counters.items() if k.startswith("published:")},
        run=int(middle.counters.get("run", 0)),
        note="task messages published during the send (producer and workers), per 100 readers",
        **common,
    )
    figure(
        "send_broker_bytes_per_recipient",
        n=n,
        value=round(median([run.counters.get("published_bytes", 0.0) / n for run in sends]), 2),
        unit="bytes",
        target="<= 150",
        note="task messages as LPUSHed to Redis (kombu's JSON envelope: body, headers, "
        "properties) per reader; the transport also keeps a copy in its unacked hash while "
        "a task runs",
        **common,
    )
    figure(
        "send_messages_per_connection",
        n=n,
        value=round(median([n / max(1, int(run.sink["connections_used"])) for run in sends]), 1),
        unit="msgs/connection",
        target=">= 100",
        connections_used=[int(run.sink["connections_used"]) for run in sends],
        connections_opened=[int(run.sink["connections_opened"]) for run in sends],
        note="messages of the send / SMTP connections that carried any of them (sink's count)",
        **common,
    )
    snapshots = [run.producer["snapshot_s"] for run in sends]
    if None in snapshots:
        print(
            "[send_path] the producer did not run the snapshot itself: use --snapshot-only",
            file=sys.stderr,
        )
        return
    snapshot_figure(
        n=n,
        seconds=[float(seconds) for seconds in snapshots],
        mode="in the send (the producer's claim), enqueueing excluded",
        database=database,
    )


def snapshot_figure(
    *, n: int, seconds: list[float], mode: str, database: str, **extra: Any
) -> None:
    figure(
        "audience_snapshot",
        n=n,
        value=round(median(seconds), 3),
        unit="s",
        target="<= 8 s for 1,000,000 on PostgreSQL",
        runs=[round(value, 3) for value in seconds],
        mode=mode,
        database=database,
        note="digest_snapshot: freeze the render, INSERT ... SELECT the ledger, count it",
        **extra,
    )
