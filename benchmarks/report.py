"""One benchmark figure per line, in the shape the benchmark issue (#6) fixes.

Every benchmark prints through `figure`, so `make bench` output can be parsed line by line:
`{"bench", "n", "value", "unit", "ratio_to", "ratio", "cores", ...extra}`.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    """The median of repeated runs (short runs are repeated; one long run is its own median)."""
    return float(statistics.median(values))


def figure(
    bench: str,
    *,
    n: int,
    value: float,
    unit: str,
    ratio_to: str | None = None,
    ratio: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Print one figure as a JSON line (flushed, so a long run shows progress) and return it."""
    line: dict[str, Any] = {
        "bench": bench,
        "n": n,
        "value": value,
        "unit": unit,
        "ratio_to": ratio_to,
        "ratio": None if ratio is None else round(ratio, 3),
        "cores": os.cpu_count(),
        **extra,
    }
    print(json.dumps(line), flush=True)
    return line
