"""Run every benchmark in turn: `python -m benchmarks [--n N] [--rows ROWS] [--only NAME]`.

`make bench` runs this; `make bench N=100000` sends to 100,000 readers instead of 20,000. Each
benchmark runs in its own process (its own Django set-up and database) and prints JSON lines.

Every benchmark runs on a throw-away SQLite file first. When BENCH_DATABASE_URL names a
PostgreSQL server that answers, the ones a database is part of run again there (each creates and
drops a database of its own on that server); when it does not answer, that pass is skipped with a
message saying so. Every figure's `db` says which pass it came from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from benchmarks import send_setup
from benchmarks.report import db_label

# The benchmarks whose figures depend on the database, run again on PostgreSQL.
ON_POSTGRESQL = {"send_path", "ledger_record", "signup_path", "csv_import", "dashboard"}


def _plan(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    return [
        # The limit (raw smtplib into a fast sink) and the end-to-end send, in the same run.
        ("send_path", ["--n", str(args.n)]),
        # DKIM's price: µs to sign one digest message (Ed25519, RSA-2048) and the signed send.
        ("dkim_sign", []),
        # What recording each accepted message at once costs (the crash bound's price).
        ("ledger_record", []),
        ("render_path", []),
        ("signup_path", []),
        ("throttle_rate", []),
        ("csv_import", ["--rows", str(args.rows)]),
        # The admin home's newsroom dashboard at a million readers and a thousand digests.
        ("dashboard", []),
    ]


def _postgres_reachable(url: str) -> str:
    """ "" if PostgreSQL at `url` answers, else why not (one line)."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3):
            return ""
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _passes() -> list[tuple[str, dict[str, str]]]:
    """(label, environment) of each database pass: SQLite, then PostgreSQL when it answers."""
    base = {key: value for key, value in os.environ.items() if key != "BENCH_DATABASE_URL"}
    base.pop("DATABASE_URL", None)
    passes = [("sqlite", base)]
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url:
        print("# PostgreSQL pass skipped: BENCH_DATABASE_URL is not set", file=sys.stderr)
    elif db_label(url) != "postgresql":
        print("# PostgreSQL pass skipped: BENCH_DATABASE_URL is not postgres://", file=sys.stderr)
    elif why := _postgres_reachable(url):
        print(f"# PostgreSQL pass skipped: {url} does not answer ({why})", file=sys.stderr)
    else:
        passes.append(("postgresql", {**base, "DATABASE_URL": url}))
    return passes


def _bench_run(*, name: str, flags: list[str], env: dict[str, str]) -> int:
    """Run one benchmark; on PostgreSQL, in a database of its own that is dropped afterwards.

    Some benchmarks migrate and fill DATABASE_URL itself; none may do that to the server's own
    database (BENCH_DATABASE_URL names `postgres`, say).
    """
    command = [sys.executable, "-m", f"benchmarks.{name}", *flags]
    if "DATABASE_URL" not in env:
        return subprocess.call(command, env=env)
    with send_setup.bench_database(base_url=env["DATABASE_URL"]) as database:
        return subprocess.call(command, env={**env, "DATABASE_URL": database.url})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="readers of the end-to-end send")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the CSV import")
    parser.add_argument("--only", action="append", default=[], help="run only these benchmarks")
    args = parser.parse_args()
    failed = 0
    for db, env in _passes():
        for name, flags in _plan(args):
            if args.only and name not in args.only:
                continue
            if db != "sqlite" and name not in ON_POSTGRESQL:
                continue
            title = f"# [{db}] benchmarks.{name} {' '.join(flags)}".rstrip()
            print(title, file=sys.stderr, flush=True)
            failed |= _bench_run(name=name, flags=flags, env=env)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
