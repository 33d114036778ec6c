"""The benchmarks' counting sink counts what the product's own pipelined transport sends it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from devtools.smtp_sink import CountingSink
from operations import transport
from tests.mail_transport import transport_to


@pytest.fixture
def counting_sink() -> Iterator[CountingSink]:
    sink = CountingSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def _message(number: int) -> bytes:
    # A dot at the start of a line must be stuffed by the sender and not end the message early.
    return (
        f"From: desk@example.com\r\nTo: r{number}@example.com\r\nSubject: n{number}\r\n\r\n"
        ".a line that starts with a dot\r\nbody\r\n"
    ).encode()


@pytest.mark.django_db  # the transport reads the DKIM keys (none here) from the database
def test_pipelined_messages_are_counted_once_each_over_one_connection(
    counting_sink: CountingSink,
) -> None:
    with transport_to(counting_sink.port):
        outcomes = [
            transport.message_send(
                from_address="desk@example.com", to=f"r{n}@example.com", raw=_message(n)
            )
            for n in range(25)
        ]
        transport.transport_close()  # QUIT, so the sink's counters are final

    assert all(outcome.ok for outcome in outcomes)
    stats = counting_sink.stats()
    assert stats["messages"] == 25
    assert stats["rcpts"] == stats["distinct_recipients"] == 25
    assert stats["connections_used"] == 1


def test_reset_starts_new_counters(counting_sink: CountingSink) -> None:
    with smtplib.SMTP("127.0.0.1", counting_sink.port, timeout=5) as client:
        client.sendmail("desk@example.com", ["a@example.com"], _message(1))
    assert counting_sink.stats()["messages"] == 1

    counting_sink.reset()

    assert counting_sink.stats()["messages"] == 0
