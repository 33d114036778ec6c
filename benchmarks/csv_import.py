"""CSV import of N rows (default 100,000) into a fresh database, through the product's own code.

Runs `manage.py import_subscribers` as a staff member would, on a throw-away SQLite file unless
DATABASE_URL is set (`make bench` sets it for its PostgreSQL pass), and prints one JSON line per
path: `csv_import` (already consented: subscribed at once, no mail) and `csv_import_confirm`
(not consented: pending, and a confirmation for each new address taken under the daily cap in
Redis and published to the `bulk` queue in batches). Both are wall times including start-up.

The confirmation path needs the Redis at REDIS_URL (`make bench` starts one). No worker runs, so
the published batches are taken off the queue again afterwards, and the daily slots of the
file's addresses are released before and after, so every run mails the same addresses.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import figure

ROOT = Path(__file__).resolve().parent.parent
# The tasks that carry confirmations: a batch each now, one per address before #12.
CONFIRMATION_TASKS = {"mailinglist.tasks.send_confirmations", "mailinglist.tasks.send_confirmation"}


def _csv(path: Path, rows: int) -> None:
    rng = random.Random(7)  # noqa: S311 - varied test addresses, not secrets
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("email,name\n")
        for n in range(rows):
            if n % 1000 == 999:
                handle.write(f"not-an-address-{n},Bad Row\n")  # reported by line, not imported
            else:
                handle.write(f"reader{n}.{rng.randrange(10**6)}@example.com,Reader {n}\n")


def redis_tidy(csv_path: str) -> int:
    """Release the file's confirmation slots and take the confirmation tasks off the `bulk`
    queue (nothing else publishes there in this bench's Redis); how many tasks there were.
    Runs inside Django (manage.py shell)."""
    import json

    from django.core.cache import cache

    from mailinglist.addresses import email_hash
    from operations.redis_client import redis_client

    client = redis_client()
    with open(csv_path, encoding="utf-8") as handle:
        emails = [line.split(",", 1)[0] for line in handle.read().splitlines()[1:]]
    pipeline = client.pipeline(transaction=False)
    for email in emails:
        pipeline.delete(cache.make_key(f"signup:confirm-sent:{email_hash(email)}"))
    pipeline.execute()
    queued = client.lrange("bulk", 0, -1)
    kept = [
        raw
        for raw in queued
        if json.loads(raw).get("headers", {}).get("task") not in CONFIRMATION_TASKS
    ]
    # The list rewritten at once: removing 100,000 one-per-address tasks one by one is quadratic.
    with client.pipeline(transaction=True) as rewrite:
        rewrite.delete("bulk")
        if kept:
            rewrite.rpush("bulk", *kept)
        rewrite.execute()
    return len(queued) - len(kept)


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _tidy(env: dict[str, str], csv_path: Path) -> int:
    code = f"from benchmarks.csv_import import redis_tidy; print(redis_tidy({str(csv_path)!r}))"
    result = _manage(env, "shell", "-c", code)
    if result.returncode != 0:
        sys.exit(f"tidying Redis failed:\n{result.stderr}")
    return int(result.stdout.strip().splitlines()[-1])


def _import(env: dict[str, str], csv_path: Path, *, consented: bool) -> float:
    """Seconds one `manage.py import_subscribers` takes, into a freshly migrated database."""
    _manage(env, "flush", "--noinput")
    done = _manage(env, "migrate", "-v0")
    if done.returncode != 0:
        sys.exit(f"migrate failed:\n{done.stderr}")
    _manage(
        env,
        "shell",
        "-c",
        "from mailinglist.models import MailingList; "
        "MailingList.objects.get_or_create(slug='bench', defaults={'name': 'Bench'})",
    )
    consent = ["--consented", "benchmark data"] if consented else []
    started = time.perf_counter()
    result = _manage(env, "import_subscribers", str(csv_path), "--list", "bench", *consent)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"import failed:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--path", choices=["consented", "confirm", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "on")}
        env.setdefault("DATABASE_URL", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        database = env["DATABASE_URL"].split(":", 1)[0]
        csv_path = Path(tmp) / "subscribers.csv"
        _csv(csv_path, args.rows)
        if args.path in {"consented", "both"}:
            elapsed = _import(env, csv_path, consented=True)
            figure(
                "csv_import",
                n=args.rows,
                value=round(elapsed, 2),
                unit="s",
                rows_per_s=round(args.rows / elapsed),
                database=database,
                note="import_subscribers --consented, wall time incl. start-up; "
                "0.1% invalid rows; one run",
            )
        if args.path in {"confirm", "both"}:
            _tidy(env, csv_path)
            elapsed = _import(env, csv_path, consented=False)
            tasks = _tidy(env, csv_path)
            figure(
                "csv_import_confirm",
                n=args.rows,
                value=round(elapsed, 2),
                unit="s",
                rows_per_s=round(args.rows / elapsed),
                confirmation_tasks=tasks,
                database=database,
                note="import_subscribers without consent (pending + a confirmation each, "
                "published in batches, no worker), wall time incl. start-up; one run",
            )


if __name__ == "__main__":
    main()
