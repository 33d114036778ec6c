"""The broker transport (config/broker.py), against a real Redis.

When a worker loses Redis mid-poll, kombu releases the transport's client while the channel is
still open; closing that channel (its unacknowledged tasks put back) and acknowledging a task
that ran through the outage must still work, not end the worker on an AttributeError. (The
whole outage, with workers and a digest, is tests/integration/test_service_faults.py's Redis
restart.)
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from typing import cast

import pytest

from config import broker
from config.celery_app import app
from operations.redis_client import redis_client


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"newsdesk-test-broker-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client().delete(name, f"_kombu.binding.{name}")


def test_the_broker_connection_uses_the_mended_transport() -> None:
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
        assert isinstance(connection.default_channel, broker.Channel)


def test_a_channel_whose_transport_was_released_still_puts_back_and_acknowledges(
    queue_name: str,
) -> None:
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(queue_name)
        queue.put({"task": "a batch"})
        message = queue.get(timeout=5)
        channel = cast(broker.Channel, connection.default_channel)
        # What kombu's Connection.collect leaves when the channel's poll cannot be read: the
        # transport's client released, the channel still open and holding a task.
        channel.connection.client = None

        channel.close()  # puts the unacknowledged task back on the queue
        message.ack()  # the task that ran through the outage

    with app.connection_for_write() as connection:
        again = connection.SimpleQueue(queue_name).get(timeout=5)
        assert again.payload == {"task": "a batch"}
        again.ack()
        assert not redis_client().hexists("unacked", str(again.delivery_tag))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", None),
        ("rediss://redis.example:6380/0", {"ssl_cert_reqs": ssl.CERT_REQUIRED}),
    ],
)
def test_a_rediss_broker_checks_the_certificate_as_the_cache_does(
    url: str, expected: dict[str, object] | None
) -> None:
    assert broker.ssl_options(url) == expected
