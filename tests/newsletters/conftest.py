"""Fixtures shared by the newsletters tests: a real local feed server, ESP webhook settings,
/metrics switched on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from operations.metrics import HIGH_WATER_KEY
from operations.redis_client import redis_client
from tests.newsletters.feed_server import FeedServer, feed_server_running
from tests.newsletters.metrics_helpers import TOKEN
from tests.newsletters.tracking_payloads import SECRET, SIGNING_KEY


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server_running() as running:
        yield running


@pytest.fixture
def webhook_secret() -> Iterator[None]:
    """The tracking webhooks' basic-auth secret (tracking_payloads.SECRET) is set."""
    with override_settings(ANYMAIL={**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}):
        yield


@pytest.fixture
def mailgun_configured(webhook_secret: None) -> Iterator[None]:
    anymail = {
        **settings.ANYMAIL,
        "MAILGUN_API_KEY": "key-123",
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    with override_settings(ANYMAIL=anymail):
        yield


@pytest.fixture
def fresh_metrics(settings: Any) -> Iterator[None]:
    """Metrics on, and no counter kept in Redis by another test (or its cached figures)."""
    settings.METRICS_TOKEN = TOKEN
    client = redis_client()  # this one: a test may point REDIS_URL at nothing

    def forget() -> None:
        kept = [HIGH_WATER_KEY, *client.scan_iter(match="newsdesk:*dashboard:*", count=1000)]
        client.delete(*kept)

    forget()
    yield
    forget()
