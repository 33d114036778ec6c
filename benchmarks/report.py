"""One benchmark figure per line, in the shape the benchmark issue (#6) fixes.

Every benchmark prints through `figure`, so `make bench` output can be parsed line by line:
`{"bench", "n", "value", "unit", "ratio_to", "ratio", "cores", "db", ...extra}`. `db` names the
database the figure was taken on ("sqlite" or "postgresql"; "none" for a figure no database is
part of), so figures from the two passes of `make bench` are never mixed up (#12).
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


def db_label(url: str | None) -> str:
    """ "postgresql", "sqlite" or "none" for a DATABASE_URL (benches default to a SQLite file)."""
    scheme = (url or "sqlite:").split(":", 1)[0].lower()
    if scheme in {"postgres", "postgresql", "pgsql", "psql"}:
        return "postgresql"
    return "sqlite" if scheme.startswith("sqlite") else "none"


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
    """Print one figure as a JSON line (flushed, so a long run shows progress) and return it.

    `db` is taken from a `database=` extra (a vendor or URL scheme) when the bench passes one,
    else from DATABASE_URL; pass `db="none"` for a figure that no database is part of.
    """
    named = extra.pop("db", None) or extra.pop("database", None)
    db = named if named == "none" else db_label(named or os.environ.get("DATABASE_URL"))
    line: dict[str, Any] = {
        "bench": bench,
        "n": n,
        "value": value,
        "unit": unit,
        "ratio_to": ratio_to,
        "ratio": None if ratio is None else round(ratio, 3),
        "cores": os.cpu_count(),
        "db": db,
        **extra,
    }
    print(json.dumps(line), flush=True)
    return line
