"""Issue #6's send-path benchmark: a digest to N readers end to end, against this machine's limit.

One run, on the services the product uses:
- the counting SMTP sink (devtools/smtp_sink, count mode) in its own process;
- Redis at REDIS_URL (`make bench` gives database 14; the bench takes a lock there, then purges
  the queues and the engine's batch markers a killed run may have left);
- a fresh SQLite file, or with DATABASE_URL=postgres://… a database of its own on that server
  (`newsdesk_bench_<pid>`, dropped at the end);
- a real Celery worker pool started by the bench: `celery -A config worker -Q
  transactional,bulk,default -c 2 --without-mingle --without-gossip`, with counters on
  (probes.py), DEBUG off as in production.

N active subscribers (default 20,000) are inserted set-based. After a short warm-up of both steps
(2,000 messages, not a figure), `--repeat` times (default 5 up to 20,000 readers, 3 up to 100,000,
else 1), alternately:
1. the limit: as many raw smtplib client processes as worker processes push N pre-built
   messages of the digest's real size into the same sink (smtp_limit.py);
2. the send: a new 10-story digest is scheduled now and a producer process claims it with
   `digests_dispatch_due()` (what the beat tick does); the bench polls until no ledger row is
   pending or sending, and checks every reader got exactly one message. Time = the claim to the
   last `sent_at` in the ledger.

Figures, one JSON line each, medians over the runs: smtp_raw_rate, send_rate (with its ratio to
the raw rate), send_worker_cpu_per_msg, send_worker_peak_rss, send_producer_peak_rss,
send_tasks_per_100, send_broker_bytes_per_recipient, send_messages_per_connection,
audience_snapshot. Progress goes to stderr.

`--snapshot-only` times the audience snapshot alone (enqueueing switched off), with no worker or
sink: the figure for a million readers on PostgreSQL without sending a million messages.
`--profile FILE` adds one send that is not a figure, with the engine's steps timed and py-spy on
the pool (send_profile.py), and prints where the time went.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from benchmarks import probes, send_setup
from benchmarks.send_figures import SendRun, send_figures, snapshot_figure
from benchmarks.send_pool import (
    CpuTracker,
    WorkerPool,
    postgres_backends,
    redis_cpu,
    redis_prepare,
    redis_release,
)
from benchmarks.send_profile import Spy
from benchmarks.smtp_limit import RawRun, raw_run
from devtools.smtp_sink import CountingSink
from devtools.workers import ROOT

if TYPE_CHECKING:
    from mailinglist.models import MailingList

WARMUP_READERS = 2000


def _log(message: str) -> None:
    print(f"[send_path] {message}", file=sys.stderr, flush=True)


# --- One send ------------------------------------------------------------------------------------


@dataclass
class Bench:
    n: int
    env: dict[str, str]
    sink: CountingSink
    database: send_setup.BenchDatabase
    mailing_list: MailingList
    log_path: Path
    pool: WorkerPool | None = None
    idle_cpu_per_s: float = 0.0
    warmup_list: MailingList | None = None

    def pool_start(self, *, concurrency: int, extra_env: dict[str, str] | None = None) -> None:
        """(Re)start the worker pool, then measure its idle CPU rate to subtract later."""
        from django.db import connections

        if self.pool is not None:
            self.pool.stop()
        connections.close_all()
        self.pool = WorkerPool(
            env={**self.env, **(extra_env or {})}, concurrency=concurrency, log_path=self.log_path
        )
        self.pool.start()
        time.sleep(2.0)  # let it settle
        idle = CpuTracker(self.pool.processes).start()
        time.sleep(3.0)
        self.idle_cpu_per_s = idle.stop() / 3.0

    def send(
        self,
        *,
        spy: Spy | None = None,
        mailing_list: MailingList | None = None,
        n: int | None = None,
    ) -> SendRun:
        """Schedule a new digest now, claim it as beat does, wait until the ledger owes nothing.

        To the bench's list of N readers, or to `mailing_list` of `n` (the warm-up).
        """
        from django.db.models import Max
        from django.utils import timezone

        from newsletters import scheduling
        from newsletters.delivery import ledger, progress
        from newsletters.models import Delivery, Digest

        pool = self.pool
        assert pool is not None
        n = n or self.n
        digest = send_setup.digest_create(mailing_list=mailing_list or self.mailing_list)
        scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
        probes.counters_reset()
        self.sink.reset()
        pool_pids = [process.pid for process in pool.pool_processes()]
        sched_before = [probes.schedstat(pid) for pid in pool_pids]
        redis_before = redis_cpu()
        workers = CpuTracker(pool.processes).start()
        others = {"sink": CpuTracker(lambda: [psutil.Process(self.sink.pid)]).start()}
        if self.database.vendor == "postgresql":
            name = self.database.url.rsplit("/", 1)[1]
            others["postgres_backends"] = CpuTracker(postgres_backends(name), 1.0).start()
        if spy is not None:
            spy.start(pool_pids)
        started = time.time()
        try:
            produced = subprocess.run(
                [sys.executable, "-m", "benchmarks.probes", "produce"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            producer = json.loads(produced.stdout.strip().splitlines()[-1])
            if producer["digests"] != [digest.pk]:
                raise RuntimeError(f"the producer claimed {producer['digests']}, not {digest.pk}")
            snapshotted = Digest.objects.filter(pk=digest.pk, snapshot_at__isnull=False)
            deadline = time.monotonic() + max(600.0, n / 50)
            # The engine's own question, from the index: the bench's database CPU is the send's.
            while ledger.digest_owes_anything(digest_id=digest.pk) or not snapshotted.exists():
                if time.monotonic() > deadline or not pool.alive():
                    counts = progress.digest_counts(digest_id=digest.pk)
                    raise RuntimeError(f"the send did not finish: {counts}\n{pool.log_tail()}")
                time.sleep(0.2)
            done = time.time()
        finally:
            if spy is not None:
                spy.stop()
        sched_after = [probes.schedstat(pid) for pid in pool_pids]
        worker_cpu = workers.stop() - self.idle_cpu_per_s * (done - started)
        other_cpu = {name: tracker.stop() for name, tracker in others.items()}
        other_cpu["redis_server"] = redis_cpu() - redis_before
        self._check(digest_id=digest.pk, n=n)
        last_sent = Delivery.objects.filter(digest_id=digest.pk).aggregate(last=Max("sent_at"))
        return SendRun(
            n=n,
            elapsed_s=last_sent["last"].timestamp() - float(producer["claimed_at"]),
            seen_done_s=done - float(producer["claimed_at"]),
            producer=producer,
            worker_cpu_s=worker_cpu,
            other_cpu_s=other_cpu,
            pool_size=len(pool_pids),
            pool_cpu_s=sum(a[0] - b[0] for a, b in zip(sched_after, sched_before, strict=True)),
            pool_waiting_s=sum(a[1] - b[1] for a, b in zip(sched_after, sched_before, strict=True)),
            sink=self.sink.stats(),
            counters=probes.counters_read(),
        )

    def _check(self, *, digest_id: int, n: int) -> None:
        # A figure for a send that lost or doubled mail would be untrue: refuse it.
        from newsletters.delivery import progress

        counts = progress.digest_counts(digest_id=digest_id)
        if counts["sent"] != n or counts["total"] != n:
            raise RuntimeError(f"expected {n} sent, the ledger says {counts}")
        stats = self.sink.stats()
        if stats["messages"] != n or stats["distinct_recipients"] != n:
            raise RuntimeError(
                f"the sink got {stats['messages']} messages for {stats['distinct_recipients']} "
                f"readers, expected {n} each"
            )

    def warm_up(self, *, messages: Path, raw_n: int) -> None:
        """A short raw run and a short send, not figures: the first of each runs cold (process
        start-up, the worker's first template and connections) and would bias the median."""
        if self.warmup_list is None:
            self.warmup_list = send_setup.warmup_list_create(count=WARMUP_READERS)
        assert self.pool is not None
        raw_run(
            sink=self.sink,
            messages_path=messages,
            n=min(raw_n, WARMUP_READERS),
            clients=self.pool.concurrency,
        )
        self.send(mailing_list=self.warmup_list, n=min(self.n, WARMUP_READERS))


# --- Modes ---------------------------------------------------------------------------------------


def _snapshot_only(*, bench: Bench, repeat: int) -> None:
    """The snapshot alone, `repeat` times, each on a new digest into the same ledger table."""
    from django.db import connection

    from newsletters.delivery import snapshot
    from newsletters.models import Delivery, Digest

    seconds: list[float] = []
    statements: dict[str, float] = {}

    def timed(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, *args)
        finally:
            key = " ".join(sql.split())[:60]
            statements[key] = statements.get(key, 0.0) + time.perf_counter() - started

    for _ in range(repeat):
        digest = send_setup.digest_create(mailing_list=bench.mailing_list)
        statements.clear()
        with connection.execute_wrapper(timed), probes.snapshot_timed(enqueue=False) as times:
            total = snapshot.digest_snapshot(digest_id=digest.pk)
        if total != bench.n:
            raise RuntimeError(f"the snapshot holds {total} rows, expected {bench.n}")
        seconds.append(times.snapshot_s[0])
        _log(f"snapshot of {bench.n}: {seconds[-1]:.2f} s")
        with connection.cursor() as cursor:  # back to the table every run starts from
            cursor.execute(
                f"DELETE FROM {Delivery._meta.db_table} WHERE digest_id = %s",  # noqa: S608
                [digest.pk],
            )
        Digest.objects.filter(pk=digest.pk).update(state=Digest.State.CANCELLED)
        send_setup.database_settle()
    slowest = sorted(statements.items(), key=lambda item: -item[1])[:4]
    snapshot_figure(
        n=bench.n,
        seconds=seconds,
        mode="alone (no worker; enqueueing switched off)",
        database=bench.database.vendor,
        # Of the last run: the slowest statements; the rest is the commit (PostgreSQL checks
        # deferred foreign keys there) and Python.
        statements_s={sql: round(spent, 3) for sql, spent in slowest},
        rest_s=round(seconds[-1] - sum(statements.values()), 3),
    )


def _sends(
    *, bench: Bench, repeat: int, raw_n: int, concurrency: int, messages: Path, message_bytes: int
) -> None:
    """Raw limit and end-to-end send, alternately, `repeat` times; then the figures."""
    bench.pool_start(concurrency=concurrency)
    _log(f"worker up: {concurrency} pool processes, idle {bench.idle_cpu_per_s * 1000:.1f} ms/s")
    bench.warm_up(messages=messages, raw_n=raw_n)
    raws: list[RawRun] = []
    sends: list[SendRun] = []
    for number in range(1, repeat + 1):
        raws.append(raw_run(sink=bench.sink, messages_path=messages, n=raw_n, clients=concurrency))
        _log(f"run {number}: raw {raws[-1].rate:.0f} msgs/s")
        sends.append(bench.send())
        run = sends[-1]
        _log(
            f"run {number}: send {run.rate:.0f} msgs/s in {run.elapsed_s:.1f} s, worker CPU "
            f"{run.per_msg_ms(run.worker_cpu_s):.3f} ms/msg, snapshot "
            f"{run.producer['snapshot_s'] or 0:.2f} s"
        )
    assert bench.pool is not None
    send_figures(
        raws=raws,
        sends=sends,
        pool=bench.pool,
        database=bench.database.vendor,
        message_bytes=message_bytes,
    )


def _profile(*, bench: Bench, concurrency: int, path: Path, messages: Path) -> None:
    """One more send, not a figure: the engine's steps timed, py-spy on the pool."""
    bench.pool_start(concurrency=concurrency, extra_env={probes.STEPS_ENV: "1"})
    bench.warm_up(messages=messages, raw_n=WARMUP_READERS)
    spy = Spy(path)
    run = bench.send(spy=spy)
    summary = {
        "rate_msgs_per_s": round(run.rate),
        "steps_ms_per_msg": probes.steps_summary(
            run.counters, n=run.n, tree_cpu_s=run.worker_cpu_s
        ),
        "pool_ms_per_msg": run.pool_time_per_message,
        "worker_cpu_ms_per_msg": round(run.per_msg_ms(run.worker_cpu_s), 3),
        "py_spy": spy.summaries(),
    }
    _log(
        f"profile (one extra send, not a figure; py-spy's samples in {path} and beside it):\n"
        + json.dumps(summary, indent=2)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="subscribers (default 20,000)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs (5 up to 20,000 readers, 3 to 100,000, else 1)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--raw-n", type=int, default=None, help="raw messages per run (N)")
    parser.add_argument("--snapshot-only", action="store_true", help="time the snapshot alone")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy one extra send")
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    args = parser.parse_args()
    repeat = args.repeat or (5 if args.n <= 20_000 else 3 if args.n <= 100_000 else 1)
    sink = CountingSink()
    with (
        send_setup.bench_database(base_url=os.environ.get("DATABASE_URL")) as database,
        tempfile.TemporaryDirectory(prefix="newsdesk-send-") as tmp,
    ):
        sink.start()
        bench: Bench | None = None
        locked = False
        try:
            env = send_setup.product_env(database_url=database.url, email_url=sink.url, debug=False)
            send_setup.django_setup(env, migrate=True)
            redis_prepare()
            locked = True
            mailing_list = send_setup.mailing_list_create()
            started = time.perf_counter()
            send_setup.subscribers_create(mailing_list=mailing_list, n=args.n)
            send_setup.database_settle()
            _log(
                f"{args.n} subscribers in {time.perf_counter() - started:.1f} s ({database.vendor})"
            )
            bench = Bench(
                n=args.n,
                env=env,
                sink=sink,
                database=database,
                mailing_list=mailing_list,
                log_path=Path(tmp) / "worker.log",
            )
            if args.snapshot_only:
                _snapshot_only(bench=bench, repeat=repeat)
                return
            sample = send_setup.digest_create(mailing_list=mailing_list)
            sender, messages = send_setup.messages_build(digest=sample, count=min(500, args.n))
            messages_path = Path(tmp) / "messages.bin"
            send_setup.messages_write(messages_path, sender=sender, messages=messages)
            message_bytes = len(messages[0][1])
            del messages
            _sends(
                bench=bench,
                repeat=repeat,
                raw_n=args.raw_n or args.n,
                concurrency=args.concurrency,
                messages=messages_path,
                message_bytes=message_bytes,
            )
            if args.profile:
                _profile(
                    bench=bench,
                    concurrency=args.concurrency,
                    path=args.profile,
                    messages=messages_path,
                )
        finally:
            if bench is not None and bench.pool is not None:
                bench.pool.stop()
            sink.stop()
            if locked:
                redis_release()
                from django.db import connections

                connections.close_all()


if __name__ == "__main__":
    main()
