"""The signup bench's latency probe: from a form POST's answer to its confirmation in a mailbox.

Run after the throughput runs, against the same gunicorn: a real Celery worker (the command the
Procfile runs, consuming only the bench's private queue) and an SMTP sink on this machine. Each
signup is posted alone on an idle worker, one every PAUSE_SECONDS, and timed from the moment
its answer arrived to the moment the sink accepted its confirmation mail. That is the wait a
reader has after pressing the button: the drain task the signup's kick published, the drain
applying the row, then the confirmation task sending.

The rows of the throughput runs are marked processed first (only the bench's own, by their
address prefix): the worker should not spend the probe mailing thousands of bench addresses.
Split from signup_path.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.report import figure
from benchmarks.signup_client import http_request

SIGNUPS = 15
PAUSE_SECONDS = 0.3
MAIL_TIMEOUT_SECONDS = 30.0
TARGET_MS = 2000


def confirmation_latency(bench: Any, client: Any, *, tmp: Path, database: str) -> None:
    """Measure SIGNUPS confirmations through a real worker and print their figure.

    `bench` is signup_path's _Bench (its server's port and its addresses), `client` a primed
    signup_client.Client whose form POSTs the probe sends.
    """
    port = bench.port
    request_parts = bench._request_parts("form", client, "lat")
    rows_prefix, prefix = f"b{bench.nonce}-", bench._local_prefix("lat")
    from django.core.cache import cache
    from django.utils import timezone

    from benchmarks.signup_settings import BENCH_SIGNUP_QUEUE
    from devtools.smtp_sink import SmtpSink
    from devtools.workers import Worker
    from mailinglist.models import SignupRequest
    from mailinglist.signup_drain import KICK_NAME
    from operations.redis_client import redis_client

    SignupRequest.objects.filter(email__startswith=rows_prefix, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )
    redis_client().delete(BENCH_SIGNUP_QUEUE, cache.make_key(KICK_NAME))
    sink = SmtpSink()
    sink.start()
    worker = Worker(
        env={**os.environ, "EMAIL_URL": sink.url, "PYTHONUNBUFFERED": "1"},
        name=f"{prefix}worker@localhost",
        queues=BENCH_SIGNUP_QUEUE,
        log_path=tmp / "worker.log",
    )
    worker.start()
    latencies_ms: list[float] = []
    try:
        before, after = request_parts
        for n in range(SIGNUPS):
            time.sleep(PAUSE_SECONDS)
            status, _head, _body = http_request(port, before + b"%07d" % n + after)
            answered = time.monotonic()
            address = f"{prefix}{n:07d}@example.com"
            if status != 302:
                sys.exit(f"latency probe: signup {n} answered {status}")
            arrived = _wait_for_mail(sink, address, worker)
            latencies_ms.append((arrived - answered) * 1000)
    finally:
        worker.stop()
        sink.stop()
    _forget_probe_readers(prefix)
    figure(
        "signup_confirmation_latency",
        n=len(latencies_ms),
        value=round(median(latencies_ms), 1),
        unit="ms",
        max_ms=round(max(latencies_ms), 1),
        latencies_ms=[round(ms) for ms in latencies_ms],
        target_ms=TARGET_MS,
        database=database,
        note="idle worker: from the POST's answer to the confirmation accepted by the SMTP sink",
    )


def _wait_for_mail(sink: Any, address: str, worker: Any) -> float:
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for received in sink.received:
            if address in received.rcpt_tos:
                return float(received.at)
        time.sleep(0.002)
    sys.exit(f"latency probe: no confirmation for {address}\n{worker.log_tail()}")


def _forget_probe_readers(prefix: str) -> None:
    """The subscribers the probe made (their subscriptions and consent events go with them)."""
    from mailinglist.models import Subscriber

    Subscriber.objects.filter(email__startswith=prefix).delete()
