"""PostgreSQL stopped at once (`pg_ctl -m immediate`, as a crash) mid-send and started again:
the workers reconnect by themselves and the digest finishes, nobody lost.

On a cluster the test creates with initdb, so the machine's shared server is never touched. It
runs in the PostgreSQL pass of CI (`DATABASE_URL=postgres://…`); elsewhere it says why it skips.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import record
from tests.integration.cluster import ROOT, Cluster, cluster_running
from tests.integration.conftest import SEND_RATE
from tests.integration.private_postgres import PrivatePostgres, postgres_bindir
from tests.polling import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="runs in the PostgreSQL pass (DATABASE_URL=postgres://…), as .ci/run does",
    ),
]
READERS = 1500
# Three times PostgreSQL's default wal_writer_delay (200 ms): how far an unflushed commit can be
# from the disk (the WAL writer flushes every delay, a full buffer sooner).
WAL_WINDOW = 0.6


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("initdb/pg_ctl not found: install PostgreSQL's server package")
    server = PrivatePostgres(bindir)
    server.create()
    try:
        yield server
    finally:
        server.destroy()


def _manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DEBUG": "on", "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ledger(server: PrivatePostgres, digest_id: int) -> dict[str, int | str]:
    with psycopg.connect(server.url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        rows = db.execute(
            "SELECT state, count(*) FROM newsletters_delivery WHERE digest_id = %s GROUP BY state",
            [digest_id],
        ).fetchall()
        (digest_state,) = db.execute(
            "SELECT state FROM newsletters_digest WHERE id = %s", [digest_id]
        ).fetchone() or ("",)
    return {**dict(rows), "digest": digest_state}


def _flagged(server: PrivatePostgres, digest_id: int) -> set[str]:
    with psycopg.connect(server.url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        rows = db.execute(
            "SELECT s.email FROM newsletters_delivery d JOIN mailinglist_subscriber s "
            "ON s.id = d.subscriber_id WHERE d.digest_id = %s AND d.expired_claims > 0",
            [digest_id],
        ).fetchall()
    return {email for (email,) in rows}


def test_postgresql_crashed_and_restarted_mid_send_loses_nobody(
    postgres: PrivatePostgres, tmp_path: Path, say: Callable[[str], None]
) -> None:
    _manage(postgres.url, "manage.py", "migrate", "--noinput")
    digest_id = int(_manage(postgres.url, "-m", "tests.integration.seed_digest", str(READERS)))
    sink = SmtpSink()
    sink.start()
    try:
        with cluster_running(
            # Workers keep their connections from task to task, as they do with DEBUG off
            # (config/celery_app.py): the server goes away under connections already open.
            db_url=f"{postgres.url}?conn_max_age=60",
            email_url=sink.url,
            workdir=tmp_path,
            send_rate=SEND_RATE,
        ) as cluster:
            _crash_mid_send(cluster, postgres, digest_id)
            back = time.monotonic()
            try:
                wait_until(
                    lambda: _ledger(postgres, digest_id)["digest"] == "sent",
                    timeout=240,
                    interval=1,
                )
            except AssertionError:
                pytest.fail(f"not finished after the restart\n{cluster.logs()}")
            finished = time.monotonic() - back
    finally:
        sink.stop()

    received = Counter(r.rcpt_tos[0] for r in sink.received)
    duplicated = {email for email, n in received.items() if n > 1}
    say(
        f"PostgreSQL crash: digest finished {finished:.0f} s after the server was back; "
        f"duplicates {len(duplicated)}"
    )
    assert len(received) == READERS  # nobody lost
    ledger = _ledger(postgres, digest_id)
    assert ledger.get("sent") == READERS and set(ledger) == {"sent", "digest"}
    # A message the server accepted while the database went away could not be recorded: it is
    # sent again, flagged; at most two per open connection (two workers of two processes): the
    # one whose sent mark had left and the next one (record.py).
    # And a batch's ledger writes do not wait for the WAL flush (commit_mode.py): a crash of the
    # server itself can undo the last WAL_WINDOW seconds of them, whose readers are sent the
    # digest again without a flag: at most what the workers sent in that window.
    flagged = _flagged(postgres, digest_id)
    assert len(duplicated - flagged) <= math.ceil(SEND_RATE * WAL_WINDOW)
    assert len(duplicated) <= 4 * record.unrecorded_per_connection("postgresql") + math.ceil(
        SEND_RATE * WAL_WINDOW
    )


def _crash_mid_send(cluster: Cluster, server: PrivatePostgres, digest_id: int) -> None:
    for name in ("first", "second"):
        cluster.worker_start(name)
    cluster.beat_start()
    wait_until(lambda: int(_ledger(server, digest_id).get("sent", 0)) >= 300, timeout=90)
    server.stop(mode="immediate")
    time.sleep(5)
    server.start()
