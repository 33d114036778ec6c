"""Where a send's time goes: py-spy on the worker pool, and the engine's steps timed.

Used by `send_path --profile FILE` for one extra send that is not a figure. Two views:
- the steps (probes.STEPS, timed inside the pool processes): CPU and wall milliseconds per
  message for SMTP, the ledger UPDATE, the per-reader bytes, the re-check, the batch's own
  queries and Celery. CPU is what a busier machine cannot give back; wall minus CPU is waiting
  (for the SMTP reply, the database, or a CPU).
- py-spy samples of two pool processes: one sampled while active (on a CPU or runnable), the
  other also while idle; summarised by step and by kind of work (ORM, driver, socket…). On a
  loaded machine "active" includes time spent runnable, waiting for a CPU.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Frames = list[str]


def _anywhere(*marks: str) -> Callable[[Frames], bool]:
    return lambda frames: any(mark in frame for frame in frames for mark in marks)


def _leaf(*marks: str) -> Callable[[Frames], bool]:
    return lambda frames: bool(frames) and any(mark in frames[-1] for mark in marks)


# Which step of the send a sampled stack is in; first match wins.
STEPS: list[tuple[str, Callable[[Frames], bool]]] = [
    ("smtp: smtplib.sendmail and its socket I/O", _anywhere("smtplib.py", "senders.py")),
    (
        "ledger: recording outcomes",
        _anywhere(
            "_record (", "sent_record (", "_record_failure (", "failure_record (", "record.py"
        ),
    ),
    ("throttle (Redis token bucket)", _anywhere("throttle.py", "_throttle_wait")),
    ("per-reader bytes (signed links, join)", _anywhere("mime.py", "links.py", "tokens.py")),
    ("re-check: subscriptions, suppression (_group_send)", _anywhere("_group_send (")),
    ("batch: claim, load rows, state checks, release", _anywhere("_batch_run (", "batch_send (")),
    ("celery: task protocol, broker, acks, pool", _anywhere("celery/", "kombu/", "billiard/")),
]
# What kind of work a sampled stack is doing; first match wins.
KINDS: list[tuple[str, Callable[[Frames], bool]]] = [
    ("smtplib dot-stuffing (_quote_periods regex)", _anywhere("_quote_periods")),
    ("SQL in the database driver (SQLite engine / PostgreSQL round trip)",
     lambda f: _leaf("sqlite3/base.py")(f) or _anywhere("psycopg/", "psycopg_binary")(f)),
    ("SMTP socket I/O (send, wait for the reply)",
     lambda f: _anywhere("smtplib.py")(f) and _leaf("smtplib.py", "socket.py")(f)),
    ("Redis I/O", _anywhere("redis/")),
    ("Django ORM (building queries, model instances)", _anywhere("django/db/")),
    ("token signing (HMAC, base64)", _anywhere("django/core/signing.py", "crypto.py")),
]  # fmt: skip


def samples_summary(path: Path) -> dict[str, Any]:
    """Shares of py-spy's samples ("raw" collapsed stacks) per send step and per kind of work."""
    steps: dict[str, int] = {}
    kinds: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        step = next((label for label, test in STEPS if test(frames)), "other")
        steps[step] = steps.get(step, 0) + count
        kind = next((label for label, test in KINDS if test(frames)), "other Python")
        kinds[kind] = kinds.get(kind, 0) + count

    def shares(counts: dict[str, int]) -> dict[str, float]:
        ordered = sorted(counts.items(), key=lambda item: -item[1])
        return {label: round(100 * count / max(1, total), 1) for label, count in ordered}

    return {"samples": total, "steps_pct": shares(steps), "kinds_pct": shares(kinds)}


def idle_path(path: Path) -> Path:
    """Where the second pool process's profile (idle samples included) is written."""
    return path.with_name(f"{path.stem}.idle{path.suffix or '.txt'}")


class Spy:
    """py-spy record on up to two pool processes, from start() until stop()."""

    def __init__(self, path: Path) -> None:
        found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(found).exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.executable = found
        self.path = path
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, pids: list[int]) -> None:
        outputs = [(self.path, []), (idle_path(self.path), ["--idle"])]
        for pid, (output, extra) in zip(pids, outputs, strict=False):
            command = [self.executable, "record", "--pid", str(pid), "--format", "raw"]
            command += ["--rate", "250", "--nonblocking", *extra, "--output", str(output)]
            self.processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            process.wait(timeout=60)

    def summaries(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for label, path in (("active", self.path), ("with_idle", idle_path(self.path))):
            if path.exists():
                found[label] = samples_summary(path)
        return found
