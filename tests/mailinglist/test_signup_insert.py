"""The signup POST's INSERT through the driver (signup_insert.py): the row the ORM would store."""

from __future__ import annotations

from typing import Any

import pytest

from mailinglist.models import SignupRequest
from mailinglist.signup_insert import signup_request_insert

VALUES: dict[str, Any] = {
    "name": "Zoë Reader",
    "list_slugs": ["daily", "weekly"],
    "source": "form",
    "ip": "2001:db8::7",
    "user_agent": "Mozilla/5.0",
    "source_url": "https://news.example.com/article/",
    "form_version": "v1",
}
COMPARED = ("name", "list_slugs", "source", "ip", "user_agent", "source_url", "form_version")


@pytest.mark.django_db
def test_the_row_is_the_one_the_orm_stores() -> None:
    signup_request_insert(email="fast@example.com", **VALUES)
    orm = SignupRequest.objects.create(email="orm@example.com", **VALUES)

    fast = SignupRequest.objects.get(email="fast@example.com")
    orm.refresh_from_db()
    assert [getattr(fast, f) for f in COMPARED] == [getattr(orm, f) for f in COMPARED]
    assert fast.created_at is not None and fast.created_at.tzinfo is not None
    assert abs((orm.created_at - fast.created_at).total_seconds()) < 5
    assert fast.processed_at is None
