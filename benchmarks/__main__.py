"""Run every benchmark in turn: `python -m benchmarks [--n N] [--rows ROWS] [--only NAME]`.

`make bench` runs this; `make bench N=100000` sends to 100,000 readers instead of 20,000. Each
benchmark runs in its own process (its own Django set-up and database) and prints JSON lines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="readers of the end-to-end send")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the CSV import")
    parser.add_argument("--only", action="append", default=[], help="run only these benchmarks")
    args = parser.parse_args()
    failed = 0
    for name, flags in _plan(args):
        if args.only and name not in args.only:
            continue
        print(f"# benchmarks.{name} {' '.join(flags)}".rstrip(), file=sys.stderr, flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *flags])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
