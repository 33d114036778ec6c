"""An index that is a BRIN on PostgreSQL and an ordinary B-tree on any other database."""

from __future__ import annotations

from typing import Any

from django.db import models


class BlockRangeIndex(models.Index):
    """BRIN on PostgreSQL (a few kB per million rows, next to nothing to maintain), else B-tree.

    For a column whose values rise along the table in runs, as the ledger's subscriber ids do
    (each snapshot inserts a digest's readers in id order): a lookup reads the page ranges
    whose bounds hold the value, one run per digest. SQLite has no BRIN; it gets a B-tree.
    Measured on the ledger at a million rows: a B-tree on the reader took ~0.7 s of the
    snapshot's server CPU and ~100 MB of its WAL (an insert per row into a second large index);
    the BRIN is 80 kB for 3 million rows and finds a reader's rows in ~4 ms.
    """

    def __init__(self, *args: Any, pages_per_range: int = 16, **kwargs: Any) -> None:
        self.pages_per_range = pages_per_range
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        path, args, kwargs = super().deconstruct()
        kwargs["pages_per_range"] = self.pages_per_range
        return path, args, kwargs

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        statement = super().create_sql(model, schema_editor, using=" USING brin", **kwargs)
        # autosummarize: the ranges a snapshot fills are summarised by autovacuum soon after,
        # not left for every lookup to read whole until the table's next vacuum.
        with_params = f" WITH (pages_per_range = {self.pages_per_range}, autosummarize = on)"
        parts: dict[str, Any] = statement.parts  # django-stubs types every part as a Table
        parts["extra"] = with_params + parts["extra"]
        return statement
