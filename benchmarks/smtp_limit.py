"""Step 1 of issue #6: how fast this machine can push the digest over SMTP at all.

K raw client processes (K = the worker pool's concurrency), each with one smtplib connection
reused for all its messages, push N pre-built messages of the digest's real size (the per-reader
bytes the workers would send: same template, same signed links) into the counting sink
(devtools/smtp_sink, count mode). No database, no broker, no rendering: `smtplib.sendmail` and
the sink, which is the same call the workers make. `send_path` compares the end-to-end send with
this rate, measured against the same sink in the same run.

The clients cycle through `--distinct` different pre-built messages (default 500) rather than
holding N of them: a million 30 KB messages would not fit in memory, and the bytes on the wire
per message are the same.

Alone: `python -m benchmarks.smtp_limit --n 20000 --clients 2 --repeat 3` (its own sink and a
throw-away SQLite database to render the digest).
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.probes import time_split
from benchmarks.report import figure, median
from devtools.smtp_sink import CountingSink

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RawRun:
    n: int
    clients: int
    elapsed_s: float  # first client's first send to the last client's last 250
    client_cpu_s: float
    client_waiting_s: float  # runnable, waiting for a CPU
    client_wall_s: float  # each client's own first send to its last reply, added up
    sink: dict[str, Any]  # the sink's counters for this run

    @property
    def rate(self) -> float:
        return self.n / self.elapsed_s

    @property
    def sink_cpu_per_message_us(self) -> float:
        return float(self.sink["cpu_s"]) / max(1, int(self.sink["messages"])) * 1e6

    @property
    def client_cpu_per_message_us(self) -> float:
        return self.client_cpu_s / self.n * 1e6

    @property
    def client_time_per_message(self) -> dict[str, float]:
        return time_split(
            wall_s=self.client_wall_s,
            on_cpu_s=self.client_cpu_s,
            waiting_s=self.client_waiting_s,
            per=self.n,
        )


def _client(*, port: int, messages_path: Path, count: int, offset: int) -> None:
    """One raw client: connect, say ready, wait for "go", send `count` messages, report."""
    from benchmarks.probes import schedstat
    from benchmarks.send_setup import messages_read

    sender, messages = messages_read(messages_path)
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    smtp.ehlo()
    print("ready", flush=True)
    sys.stdin.readline()
    (on_cpu, waiting), started = schedstat(), time.time()
    for index in range(offset, offset + count):
        recipient, raw = messages[index % len(messages)]
        smtp.sendmail(sender, [recipient], raw)
    finished, (on_cpu_end, waiting_end) = time.time(), schedstat()
    smtp.quit()
    report = {
        "started": started,
        "finished": finished,
        "cpu_s": on_cpu_end - on_cpu,
        "waiting_s": waiting_end - waiting,
    }
    print(json.dumps(report), flush=True)


def raw_run(*, sink: CountingSink, messages_path: Path, n: int, clients: int) -> RawRun:
    """N messages split over `clients` processes, all started together; the sink is reset first."""
    shares = [n // clients + (1 if index < n % clients else 0) for index in range(clients)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.smtp_limit",
                "--client",
                "--port",
                str(sink.port),
                "--messages",
                str(messages_path),
                "--n",
                str(share),
                "--offset",
                str(index * 7919),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index, share in enumerate(shares)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a raw SMTP client did not connect")
        sink.reset()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if process.wait() != 0 or not line:
                raise RuntimeError("a raw SMTP client failed")
            reports.append(json.loads(line))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    stats = sink.stats()
    if stats["messages"] != n:
        raise RuntimeError(f"the sink counted {stats['messages']} messages, expected {n}")
    return RawRun(
        n=n,
        clients=clients,
        elapsed_s=max(r["finished"] for r in reports) - min(r["started"] for r in reports),
        client_cpu_s=sum(r["cpu_s"] for r in reports),
        client_waiting_s=sum(r["waiting_s"] for r in reports),
        client_wall_s=sum(r["finished"] - r["started"] for r in reports),
        sink=stats,
    )


def raw_figure(runs: list[RawRun], *, message_bytes: int) -> dict[str, Any]:
    """The step-1 figure: the median raw rate of the runs, with the CPU it took on each side."""
    first = runs[0]
    middle = sorted(runs, key=lambda run: run.rate)[len(runs) // 2]
    return figure(
        "smtp_raw_rate",
        n=first.n,
        value=round(median([run.rate for run in runs])),
        unit="msgs/s",
        clients=first.clients,
        message_bytes=message_bytes,
        runs=[round(run.rate) for run in runs],
        client_cpu_us_per_msg=round(median([run.client_cpu_per_message_us for run in runs]), 1),
        sink_cpu_us_per_msg=round(median([run.sink_cpu_per_message_us for run in runs]), 1),
        runs_sink_cpu_us_per_msg=[round(run.sink_cpu_per_message_us) for run in runs],
        sink_reads_per_msg=round(
            int(middle.sink["reads"]) / max(1, int(middle.sink["messages"])), 1
        ),
        client_ms_per_msg=middle.client_time_per_message,
        messages_per_connection=round(first.n / max(1, int(first.sink["connections_used"]))),
        note="smtplib.sendmail over one reused connection per client process into the fast "
        "sink; median of runs",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per run")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distinct", type=int, default=500, help="different messages cycled")
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    # The client role, started by raw_run.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _client(port=args.port, messages_path=args.messages, count=args.n, offset=args.offset)
        return

    from benchmarks import send_setup

    sink = CountingSink()
    with (
        send_setup.bench_database(base_url=None) as database,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sink.start()
        try:
            env = send_setup.product_env(database_url=database.url, email_url=sink.url, debug=False)
            send_setup.django_setup(env, migrate=True)
            mailing_list = send_setup.mailing_list_create()
            send_setup.subscribers_create(mailing_list=mailing_list, n=args.distinct)
            digest = send_setup.digest_create(mailing_list=mailing_list)
            sender, messages = send_setup.messages_build(digest=digest, count=args.distinct)
            messages_path = Path(tmp) / "messages.bin"
            send_setup.messages_write(messages_path, sender=sender, messages=messages)
            runs = [
                raw_run(sink=sink, messages_path=messages_path, n=args.n, clients=args.clients)
                for _ in range(args.repeat)
            ]
            raw_figure(runs, message_bytes=len(messages[0][1]))
        finally:
            sink.stop()
    os.environ.pop("DATABASE_URL", None)


if __name__ == "__main__":
    main()
