"""Fixtures shared by the newsletters tests: a real local feed server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.newsletters.feed_server import FeedServer, feed_server_running


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server_running() as running:
        yield running
