"""Builders and checks shared by the feed ingest tests."""

from __future__ import annotations

from datetime import datetime

from newsletters.models import Feed
from tests.factories import FeedFactory


def make_feed(url: str, **fields: object) -> Feed:
    """A feed at this address, its stories filed under "Local"."""
    return FeedFactory.create(url=url, section="Local", **fields)


def close_to(when: datetime | None, expected: datetime) -> bool:
    """Within five seconds of the expected time (the tests' clock keeps running)."""
    return when is not None and abs((when - expected).total_seconds()) < 5
