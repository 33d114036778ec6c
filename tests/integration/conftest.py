"""Fixtures of the fault tests: a private cluster (tests/integration/cluster.py) and its sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from devtools.smtp_sink import SmtpSink
from devtools.workers import database_url
from tests.integration.cluster import Cluster, cluster_running

# Slow enough that a fault lands mid-send, fast enough that a test takes a minute or two.
SEND_RATE = 40.0


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster(transactional_db: None, sink: SmtpSink, tmp_path: Path) -> Iterator[Cluster]:
    """Production intervals (config.settings); shared send rate SEND_RATE."""
    with cluster_running(
        db_url=database_url(connection.settings_dict),
        email_url=sink.url,
        workdir=tmp_path,
        send_rate=SEND_RATE,
    ) as running:
        yield running


@pytest.fixture
def fast_cluster(transactional_db: None, sink: SmtpSink, tmp_path: Path) -> Iterator[Cluster]:
    """Beat ticks and backoffs in seconds (tests.fault_settings); no send rate."""
    with cluster_running(
        db_url=database_url(connection.settings_dict),
        email_url=sink.url,
        workdir=tmp_path,
        settings_module="tests.fault_settings",
    ) as running:
        yield running


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print past pytest's capture: the times a fault test measured belong in CI's log."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return emit
