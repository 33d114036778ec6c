"""Which digest and batch a log line is about, without passing them to every logger call.

A task wraps its body in `log_context(digest_id=…, batch=…)`; the filter on the console handler
(config/observability.py) copies the ids onto every record emitted inside, from any module. With
`LOG_FORMAT=json` they are fields of their own (`jq 'select(.digest_id==42)'`); the text format
ends the line with them, `[digest_id=42 batch=1-200]`. A context variable, so concurrent requests
or threads never see each other's ids.

The same ids are set as tags on Sentry's isolation scope (one per task and per request under its
Celery and Django integrations), so an error reported from a batch names its digest. They are
taken off when the block ends well, and left on when it raises: Sentry reports a task's failure
after the block has exited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sentry_sdk

# The fields a context may carry, in the order the text format shows them.
CONTEXT_FIELDS = ("digest_id", "batch")

# Replaced, never changed in place: a context inherits its parent's dict and must not alter it.
_ids: ContextVar[dict[str, int | str]] = ContextVar("newsdesk_log_ids")


@contextmanager
def log_context(*, digest_id: int | None = None, batch: str | None = None) -> Iterator[None]:
    """Every record logged inside carries these ids (and the outer context's others)."""
    given: dict[str, int | str] = {
        key: value
        for key, value in (("digest_id", digest_id), ("batch", batch))
        if value is not None
    }
    scope = sentry_sdk.get_isolation_scope()
    for key, value in given.items():
        scope.set_tag(key, str(value))  # Sentry's tags are strings
    outer = _ids.get({})
    token = _ids.set({**outer, **given})
    try:
        yield
    finally:
        _ids.reset(token)
    # Only once the block went well: a task's failure is reported after it, with these tags.
    for key in given:
        if key in outer:
            scope.set_tag(key, str(outer[key]))
        else:
            scope.remove_tag(key)


class LogContextFilter(logging.Filter):
    """On a handler: adds the current context's ids to each record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _ids.get({}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class ContextTextFormatter(logging.Formatter):
    """The plain text format, with the record's ids (if any) at the end of its first line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Here rather than in format(): a traceback, appended after the message, stays last.
        text = super().formatMessage(record)
        ids = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_FIELDS
            if getattr(record, key, None) is not None
        )
        return f"{text} [{ids}]" if ids else text
