"""Run every benchmark in turn: `python -m benchmarks [--rows N]`."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["benchmarks.render_path", "benchmarks.csv_import"]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        failed |= subprocess.call([sys.executable, "-m", module, *sys.argv[1:]])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
