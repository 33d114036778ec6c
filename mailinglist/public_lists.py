"""The lists the signup form offers, kept in this process between signups.

The form is built on every signup POST, and lists change a few times a year: reading them once per
PUBLIC_LISTS_TTL_SECONDS per process keeps a query off the busiest public path.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.db import transaction

from mailinglist.models import MailingList

# The lists the signup form offers, kept in this process: the form is built on every signup POST,
# and lists change a few times a year. Saving or deleting a MailingList in this process clears it
# at once (and again when that transaction commits, see public_lists_forget), so the admin and
# tests see their change on the next form. Other processes (each gunicorn worker, the API's) see
# it within PUBLIC_LISTS_TTL_SECONDS, as they do a change made with QuerySet.update(), which sends
# no signal. A flush (between transactional tests) clears it too, via post_migrate.
PUBLIC_LISTS_TTL_SECONDS = 30.0
# Field values, never instances: every call builds its own, so no request can change another's.
_public_lists_cache: tuple[float, tuple[tuple[Any, ...], ...]] | None = None


def public_lists() -> list[MailingList]:
    """The public lists by name, read through the in-process cache above.

    Inside a transaction the database is read and nothing is kept: the transaction may see its own
    uncommitted changes, and a rollback sends no signal that would clear them.
    """
    connection = transaction.get_connection()
    field_names = _mailing_list_field_names()
    return [MailingList.from_db(connection.alias, field_names, row) for row in _rows()]


def public_list_slugs() -> frozenset[str]:
    """The slugs of public_lists(), read through the same cache, without building instances.

    What the signup POST checks a reader's choices against (signup_fields.py).
    """
    at = _mailing_list_field_names().index("slug")
    return frozenset(row[at] for row in _rows())


def _rows() -> tuple[tuple[Any, ...], ...]:
    global _public_lists_cache
    field_names = _mailing_list_field_names()
    cached = _public_lists_cache
    now = time.monotonic()
    if transaction.get_connection().in_atomic_block:
        return _public_list_rows(field_names)
    if cached is not None and now < cached[0]:
        return cached[1]
    rows = _public_list_rows(field_names)
    _public_lists_cache = (now + PUBLIC_LISTS_TTL_SECONDS, rows)
    return rows


def public_lists_forget(**kwargs: Any) -> None:
    """Drop the cached public lists now and once the current transaction commits.

    A receiver for MailingList post_save/post_delete and for post_migrate (see MailinglistConfig).
    Clearing again on commit stops another thread of this process from caching, in between, what
    it read before the change was committed.
    """
    global _public_lists_cache
    _public_lists_cache = None
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_public_lists_clear)


def _public_lists_clear() -> None:
    global _public_lists_cache
    _public_lists_cache = None


@functools.cache
def _mailing_list_field_names() -> tuple[str, ...]:
    return tuple(field.attname for field in MailingList._meta.concrete_fields)


def _public_list_rows(field_names: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        MailingList.objects.filter(is_public=True).order_by("name").values_list(*field_names)
    )
