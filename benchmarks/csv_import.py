"""CSV import of N rows (default 100,000) into a fresh database, through the product's own code.

Runs `manage.py import_subscribers` as a staff member would (consented path: no confirmation
mail), on a throw-away SQLite file unless DATABASE_URL is set, and prints one JSON line.
The not-consented path adds one Redis slot check and one Celery publish per new address.
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


def _csv(path: Path, rows: int) -> None:
    rng = random.Random(7)  # noqa: S311 - varied test addresses, not secrets
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("email,name\n")
        for n in range(rows):
            if n % 1000 == 999:
                handle.write(f"not-an-address-{n},Bad Row\n")  # reported by line, not imported
            else:
                handle.write(f"reader{n}.{rng.randrange(10**6)}@example.com,Reader {n}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "on")}
        env.setdefault("DATABASE_URL", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                "from mailinglist.models import MailingList; "
                "MailingList.objects.get_or_create(slug='bench', defaults={'name': 'Bench'})",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        csv_path = Path(tmp) / "subscribers.csv"
        _csv(csv_path, args.rows)
        started = time.perf_counter()
        result = subprocess.run(
            [
                *manage,
                "import_subscribers",
                str(csv_path),
                "--list",
                "bench",
                "--consented",
                "benchmark data",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"import failed:\n{result.stderr}")
    figure(
        "csv_import",
        n=args.rows,
        value=round(elapsed, 2),
        unit="s",
        rows_per_s=round(args.rows / elapsed),
        database=env["DATABASE_URL"].split(":", 1)[0],
        note="import_subscribers wall time incl. start-up; 0.1% invalid rows; one run",
    )


if __name__ == "__main__":
    main()
