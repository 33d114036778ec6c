"""Signup path: requests/s of the signup form POST against a bare POST view on the same server.

One gunicorn (sync workers, or with `--threads` the product's own gthread configuration;
production settings: DEBUG off, persistent database connections) serves the product's URLs
plus `/bench/bare/` (benchmarks.signup_urls), which answers a tiny 200 through the same
middleware, CSRF included. Client processes each GET `/subscribe/` once (CSRF cookie and token,
time-trap stamp), wait out the time trap, then POST valid new addresses for `--seconds`, one
connection per request (`Connection: close`), to one endpoint at a time. Runs alternate form /
bare so that a change in the machine's load falls on both; each figure is the median of `--runs`
runs, and the ratio is form over bare.

Nothing is taken on trust: every form POST must answer 302 to the thanks page, every bare POST
200 "ok", and after each form run the SignupRequest rows must equal the accepted POSTs (a
time-trapped or rejected POST also redirects, but stores nothing) and a drain task must be
queued for them (mailinglist/signup_drain.py: one per kick, not one per signup). Any mismatch
stops the bench rather than print a figure of error pages. Then signup_latency.py times
confirmations through a real worker: `signup_confirmation_latency`.

Two sync workers by default, one per core of this 2-core machine: a form POST is mostly CPU in
the worker, and the load generator and Redis share the cores; four clients keep one queued for
each. On PostgreSQL a sync worker idles while its signup's commit is flushed. `--threads N` runs
the product's own gthread server instead (config/gunicorn.py): waits overlap, but every request
costs more (docs/performance.md has both).

The per-IP limit is lifted by benchmarks.signup_settings (all POSTs come from 127.0.0.1); the
Redis counter behind it is still taken on every POST. A throw-away SQLite database unless
DATABASE_URL is set (then the bench's rows are deleted afterwards). No Celery worker runs during
the throughput runs: the drain tasks wait on a bench-private queue that is deleted at the end,
with the bench's cache keys.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil

from benchmarks.report import figure, median
from benchmarks.signup_client import (
    FORM_PATH,
    Client,
    client_loop,
    client_prime,
    free_port,
)
from benchmarks.signup_latency import confirmation_latency
from benchmarks.signup_server import bench_cleanup, bench_environment, gunicorn

LIST_SLUG = "bench-signup"
BARE_PATH = "/bench/bare/"
# The time trap wants MIN_FILL_SECONDS (2 s) between rendering the form and posting it.
FILL_WAIT_SECONDS = 2.3


@dataclass
class RunResult:
    kind: str
    tag: str
    seconds: float
    in_window: int = 0  # responses completed inside the measured window
    total: int = 0  # including the requests in flight when the window closed
    statuses: Counter[str] = field(default_factory=Counter)
    bad_example: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    # CPU seconds spent during the run (Redis: None when its process cannot be read).
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    redis_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.in_window / self.seconds

    @property
    def good(self) -> int:
        return self.statuses["ok"]

    def cpu_ms_perhttp_request(self) -> dict[str, float | None]:
        return self._cpu(lambda seconds: round(seconds / self.total * 1000, 3))

    def cores_used(self) -> dict[str, float | None]:
        # CPU seconds over the run's wall time (the tail after the window included, roughly).
        return self._cpu(lambda seconds: round(seconds / self.seconds, 2))

    def _cpu(self, scale: Callable[[float], float]) -> dict[str, float | None]:
        parts = {"server": self.server_cpu, "redis": self.redis_cpu, "clients": self.client_cpu}
        return {part: None if cpu is None else scale(cpu) for part, cpu in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per endpoint (median)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="0: sync workers (the figures' history); N: config/gunicorn.py's gthread, N a worker",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint, unscored")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="after the runs, profile one more form run with py-spy (collapsed stacks to FILE)",
    )
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    args = parser.parse_args()
    if (
        args.runs < 1
        or args.clients < 1
        or args.workers < 1
        or args.seconds <= 0
        or args.threads < 0
    ):
        parser.error(
            "--runs, --clients, --workers and --seconds must be positive, --threads not negative"
        )

    nonce = secrets.token_hex(4)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="newsdesk-signup-bench-") as tmp:
        own_database = "DATABASE_URL" not in os.environ
        bench_environment(port=port, tmp=Path(tmp), bench_id=f"signup-{nonce}")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        from mailinglist.models import MailingList

        call_command("migrate", verbosity=0)
        mailing_list, list_created = MailingList.objects.get_or_create(
            slug=LIST_SLUG, defaults={"name": "Signup bench", "is_public": True}
        )
        if not mailing_list.is_public:
            sys.exit(f"the list {LIST_SLUG!r} exists and is not public; cannot sign up to it")
        connections.close_all()  # the client processes are forked; they never use the database
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        try:
            log = Path(tmp) / "gunicorn.log"
            with gunicorn(port=port, workers=args.workers, threads=args.threads, log=log) as server:
                clients = [client_prime(port) for _ in range(args.clients)]
                time.sleep(FILL_WAIT_SECONDS)
                bench = _Bench(port=port, clients=clients, nonce=nonce, server_pid=server.pid)
                bench.run("form", seconds=args.warmup, tag="w")
                bench.run("bare", seconds=args.warmup, tag="w")
                results: dict[str, list[RunResult]] = {"form": [], "bare": []}
                for n in range(args.runs):
                    # Alternate which endpoint goes first, so a drift in load cancels out.
                    order = ("form", "bare") if n % 2 == 0 else ("bare", "form")
                    for kind in order:
                        results[kind].append(bench.run(kind, seconds=args.seconds, tag=f"r{n}"))
                if args.profile:
                    _profile(bench, server_pid=server.pid, seconds=args.seconds, out=args.profile)
                confirmation_latency(bench, clients[0], tmp=Path(tmp), database=database)
        finally:
            bench_cleanup(
                nonce=nonce,
                list_slug=LIST_SLUG if list_created else None,
                own_database=own_database,
            )

    bare, form = results["bare"], results["form"]
    bare_rate = median([run.rate for run in bare])
    form_rate = median([run.rate for run in form])
    common: dict[str, Any] = {
        "workers": args.workers,
        "threads": args.threads,
        "clients": args.clients,
        "seconds": args.seconds,
        "database": database,
        "note": (
            f"gunicorn {'gthread (config/gunicorn.py)' if args.threads else 'sync'}, DEBUG off, "
            "one connection per request; median of runs"
        ),
    }
    figure(
        "signup_bare_post",
        n=sum(run.in_window for run in bare),
        value=round(bare_rate, 1),
        unit="req/s",
        **_run_details(bare),
        **common,
    )
    figure(
        "signup_form_post",
        n=sum(run.in_window for run in form),
        value=round(form_rate, 1),
        unit="req/s",
        ratio_to="signup_bare_post",
        ratio=form_rate / bare_rate,
        # Each form run against the bare run next to it: the spread shows the machine's noise.
        pair_ratios=[round(f.rate / b.rate, 3) for f, b in zip(form, bare, strict=True)],
        # Requests/s in proportion if gunicorn had the cores to itself: less noisy on a shared
        # machine, and what the ratio tends to when the load generator runs elsewhere.
        server_cpu_ratio=round(_median_cpu(bare)["server"] / _median_cpu(form)["server"], 3),
        **_run_details(form),
        **common,
    )


def _run_details(runs: list[RunResult]) -> dict[str, Any]:
    latencies = sorted(ms for run in runs for ms in run.latencies_ms)
    return {
        "runs": [round(run.rate, 1) for run in runs],
        "accepted": sum(run.good for run in runs),  # verified, in and after the windows
        "latency_ms_p50": round(_percentile(latencies, 0.50), 1),
        "latency_ms_p99": round(_percentile(latencies, 0.99), 1),
        "cpu_ms_per_request": _median_cpu(runs),
        "cores_used": _median_parts([run.cores_used() for run in runs]),
    }


def _median_cpu(runs: list[RunResult]) -> dict[str, float]:
    """Per part (gunicorn, Redis server, load generator): the median over runs of CPU ms/request."""
    return _median_parts([run.cpu_ms_perhttp_request() for run in runs])


def _median_parts(per_run: list[dict[str, float | None]]) -> dict[str, float]:
    medians: dict[str, float] = {}
    for part in per_run[0]:
        values = [value for run in per_run if (value := run[part]) is not None]
        if values:
            medians[part] = round(median(values), 3)
    return medians


def _profile(bench: _Bench, *, server_pid: int, seconds: float, out: Path) -> None:
    """Sample the gunicorn workers with py-spy through one (unscored, verified) form run."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        sys.exit(f"--profile needs py-spy: {Path(sys.executable).parent}/pip install py-spy")
    profiler = subprocess.Popen(
        [
            *(str(spy), "record", "--pid", str(server_pid), "--subprocesses", "--nonblocking"),
            *("--rate", "250", "--duration", str(round(seconds + 2)), "--format", "raw"),
            *("--output", str(out)),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the run starts
    result = bench.run("form", seconds=seconds, tag="p")
    if profiler.wait() != 0:
        sys.exit(f"py-spy failed ({profiler.returncode})")
    print(f"profile of {result.total} form POSTs under py-spy: {out}", file=sys.stderr)


class _Bench:
    def __init__(self, *, port: int, clients: list[Client], nonce: str, server_pid: int) -> None:
        self.port, self.clients, self.nonce = port, clients, nonce
        self.server = psutil.Process(server_pid)
        self.redis: psutil.Process | None = None
        try:
            self.redis = psutil.Process(int(_redis().info("server")["process_id"]))
            self.redis.cpu_times()
        except (psutil.Error, KeyError, ValueError):
            self.redis = None  # another host, or another user's process

    def run(self, kind: str, *, seconds: float, tag: str) -> RunResult:
        """One run against one endpoint; verified, or the bench stops."""
        from mailinglist.models import SignupRequest

        tag = f"{tag}{kind[0]}"
        server_cpu, redis_cpu = self._server_cpu(), self._redis_cpu()
        start_at = time.time() + 0.3
        pipes, processes = [], []
        context = multiprocessing.get_context("fork")
        for index, client in enumerate(self.clients):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=client_loop,
                args=(sender, self._request_parts(kind, client, f"{tag}-{index}")),
                kwargs={"port": self.port, "kind": kind, "start_at": start_at, "seconds": seconds},
            )
            process.start()
            sender.close()
            pipes.append(receiver)
            processes.append(process)
        result = RunResult(kind=kind, tag=tag, seconds=seconds)
        for receiver, process in zip(pipes, processes, strict=True):
            part: dict[str, Any] = receiver.recv()
            process.join()
            result.in_window += part["in_window"]
            result.total += part["total"]
            result.statuses.update(part["statuses"])
            result.bad_example = result.bad_example or part["bad_example"]
            result.latencies_ms.extend(part["latencies_ms"])
            result.client_cpu += part["cpu"]
        result.server_cpu = self._server_cpu() - server_cpu
        redis_cpu_after = self._redis_cpu()
        if redis_cpu is not None and redis_cpu_after is not None:
            result.redis_cpu = redis_cpu_after - redis_cpu

        stored = SignupRequest.objects.filter(email__startswith=self._local_prefix(tag)).count()
        expected_stored = result.good if kind == "form" else 0
        problems = []
        if result.good != result.total:
            problems.append(f"{result.total - result.good} of {result.total} POSTs not accepted")
        if stored != expected_stored:
            problems.append(f"{stored} SignupRequest rows for {expected_stored} accepted POSTs")
        if kind == "form" and self._queued() == 0:
            problems.append(f"no drain task queued for {stored} stored signups")
        if result.in_window == 0:
            problems.append("no response completed within the run")
        if problems:
            sys.exit(
                f"{kind} run {tag}: " + "; ".join(problems) + f"\nstatuses {dict(result.statuses)}"
                f"\nfirst bad response:\n{result.bad_example}"
            )
        return result

    def _local_prefix(self, tag: str) -> str:
        return f"b{self.nonce}-{tag}-"

    def _request_parts(self, kind: str, client: Client, client_tag: str) -> tuple[bytes, bytes]:
        """Request bytes before and after the 7-digit counter in the address: the same request,
        and the same size, for both endpoints."""
        marker = "NNNNNNN"
        body = urlencode(
            {
                "csrfmiddlewaretoken": client.csrf_token,
                "email": f"b{self.nonce}-{client_tag}-{marker}@example.com",
                "name": "Bench Reader",
                "lists": LIST_SLUG,
                "website": "",
                "form_token": client.form_token,
            }
        ).replace(marker, "{}")
        length = len(body.format(marker))
        origin = f"http://127.0.0.1:{self.port}"
        head = (
            f"POST {FORM_PATH if kind == 'form' else BARE_PATH} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            "User-Agent: newsdesk-signup-bench\r\n"
            "Accept: text/html\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n"
            f"Cookie: {client.cookie}\r\n"
            f"Origin: {origin}\r\n"
            f"Referer: {origin}{FORM_PATH}\r\n"
            "Connection: close\r\n\r\n"
        )
        before, after = (head + body).split("{}")
        return before.encode("ascii"), after.encode("ascii")

    def _server_cpu(self) -> float:
        """CPU seconds of gunicorn so far: the arbiter and its workers."""
        return sum(_cpu(process) for process in [self.server, *self.server.children()])

    def _redis_cpu(self) -> float | None:
        try:
            return None if self.redis is None else _cpu(self.redis)
        except psutil.Error:
            return None

    def _queued(self) -> int:
        from benchmarks.signup_settings import BENCH_SIGNUP_QUEUE

        return int(_redis().llen(BENCH_SIGNUP_QUEUE))


def _redis() -> Any:
    from operations.redis_client import redis_client

    return redis_client()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(fraction * len(values)))]


if __name__ == "__main__":
    main()
