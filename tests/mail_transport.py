"""Tests that send through the product's own transport point it at a sink for their duration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.test import override_settings

from devtools.smtp_sink import SmtpSink
from operations import transport


@contextmanager
def transport_to(port: int) -> Iterator[None]:
    """EMAIL_URL as plain SMTP to 127.0.0.1:`port`, with the process's connection fresh on both
    sides: a connection left open by an earlier test would still point at its own sink."""
    transport.transport_close()
    try:
        with override_settings(
            EMAIL_BACKEND=transport.SMTP_BACKEND,
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_TIMEOUT=5,
            EMAIL_URL_REDACTED=f"smtp://127.0.0.1:{port}",
        ):
            yield
    finally:
        transport.transport_close()


def sink_serving(**faults: object) -> Iterator[SmtpSink]:
    """A fixture's body: a pipelining sink (with `faults`, SmtpSink's options) that the
    transport sends to until the test ends."""
    sink = SmtpSink(pipelining=True, **faults)  # type: ignore[arg-type]
    sink.start()
    try:
        with transport_to(sink.port):
            yield sink
    finally:
        sink.stop()
