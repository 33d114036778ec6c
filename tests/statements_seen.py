"""Every statement a block runs on a connection, including those on the driver's own cursor.

Django's CaptureQueriesContext sees only its cursor wrapper's statements; the hot path's
per-message and per-group statements go to the driver (operations/driver_statements.py), which
still runs the connection's execute wrappers. This is one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


@contextlib.contextmanager
def statements_seen(db: BaseDatabaseWrapper) -> Iterator[list[tuple[str, Any]]]:
    """The (sql, params) of each statement run on `db` inside the block, in order."""
    seen: list[tuple[str, Any]] = []

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with db.execute_wrapper(wrapper):
        yield seen


def sqlite_plan(db: BaseDatabaseWrapper, sql: str, params: Any) -> str:
    """SQLite's plan for a statement as the driver ran it (`?` placeholders)."""
    db.ensure_connection()
    steps = db.connection.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(step[3]) for step in steps)
