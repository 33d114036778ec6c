"""The dashboard benchmark's SQL helpers: the few expressions that differ between PostgreSQL and
SQLite, and set-based inserts (INSERT … SELECT) that build no row in Python."""

from __future__ import annotations

from typing import Any

from benchmarks import send_setup


class Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self) -> None:
        from django.db import connection

        self.vendor = connection.vendor
        self.base = send_setup._sql()  # series, public_id, hash, now

    def ago(self, days: str, seconds: str = "0") -> str:
        """now minus `days` days and `seconds` seconds (SQL integer expressions)."""
        if self.vendor == "postgresql":
            return f"(now() - make_interval(days => ({days})::int, secs => ({seconds})::int))"
        return (
            f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || ({days}) || ' days', "
            f"'-' || ({seconds}) || ' seconds')"
        )

    def plus_minutes(self, moment: str, minutes: str) -> str:
        if self.vendor == "postgresql":
            return f"({moment} + make_interval(mins => ({minutes})::int))"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {moment}, '+' || ({minutes}) || ' minutes')"

    def halfway_to_now(self, moment: str) -> str:
        if self.vendor == "postgresql":
            return f"({moment} + (now() - {moment}) / 2)"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', (julianday({moment}) + julianday('now')) / 2)"

    def json(self, text: str) -> str:
        return f"({text})::jsonb" if self.vendor == "postgresql" else text

    def text(self, number: str) -> str:
        return f"({number})::text" if self.vendor == "postgresql" else f"({number})"


def execute(sql: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.rowcount)


def insert(
    model: Any, columns: dict[str, str], source: str, params: list[Any] | None = None
) -> int:
    """send_setup's INSERT … SELECT, with '' for blank text fields it is not told about.

    Other work adds such fields (a digest's send zone, say); the bench should not break on them.
    """
    from django.db import models
    from django.db.models import NOT_PROVIDED

    filled = dict(columns)
    for field in model._meta.concrete_fields:
        if (
            field.column not in filled
            and isinstance(field, models.CharField | models.TextField)
            and field.blank
            and field.default is NOT_PROVIDED
            and not field.null
        ):
            filled[field.column] = "''"
    return send_setup._insert_select(model, columns=filled, source=source, params=params or [])
