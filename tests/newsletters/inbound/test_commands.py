"""`manage.py bounces_fetch` and `manage.py bounces_serve` as an operator runs them, and the
beat task behind the first."""

from __future__ import annotations

import io
import os
import select
import signal
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from devtools.ports import free_port
from devtools.workers import Worker, database_url
from newsletters.inbound.mailbox import LOCK_KEY
from newsletters.tasks import fetch_bounces
from operations.redis_client import redis_client
from tests.newsletters.inbound.conftest import BOUNCE_ADDRESS, EntryPoint
from tests.newsletters.inbound.dovecot import MailboxUser
from tests.newsletters.inbound.messages import dsn_make
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]


def _manage_env(**extra: str) -> dict[str, str]:
    """A manage.py run on this test's database and Redis, with no mailbox or address of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("BOUNCE_MAILBOX_URL", "BOUNCE_ADDRESS")
    }
    return {
        **env,
        "DEBUG": "on",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": django_settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.mark.django_db
def test_bounces_fetch_prints_one_summary_line(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    for failed in ("a@example.org", "b@example.org"):
        bounce_mailbox.append(dsn_make(to=BOUNCE_ADDRESS, failed=failed))
    out = io.StringIO()

    call_command("bounces_fetch", stdout=out)

    line = out.getvalue().strip()
    assert "\n" not in line
    assert ": 2 processed (" in line
    assert "2 removed, 0 left in the mailbox" in line
    assert bounce_mailbox.messages() == []
    assert len(entry_point.calls) == 2


@pytest.mark.django_db
def test_bounces_fetch_without_a_mailbox_says_so(settings: Any) -> None:
    settings.BOUNCE_MAILBOX = None

    with pytest.raises(CommandError, match="BOUNCE_MAILBOX_URL is not set"):
        call_command("bounces_fetch")


@pytest.mark.django_db
def test_bounces_fetch_exits_1_with_one_line_when_the_mailbox_is_unreachable() -> None:
    url = f"imaps://bounces:s3cret-pw@127.0.0.1:{free_port()}/INBOX"

    run = subprocess.run(
        [sys.executable, "manage.py", "bounces_fetch"],
        cwd=ROOT,
        env=_manage_env(BOUNCE_MAILBOX_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "s3cret-pw" not in run.stderr + run.stdout
    errors = [line for line in run.stderr.splitlines() if line.startswith("CommandError: ")]
    assert errors == [
        f"CommandError: imaps://bounces@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/INBOX: "
        "0 processed, 0 removed, 0 left in the mailbox. Error: cannot connect: Connection "
        "refused; nothing fetched"
    ]


def _read_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "bounces_serve printed nothing"
    return process.stdout.readline()


def test_bounces_serve_says_where_it_listens_receives_and_stops_on_sigterm(
    transactional_db: None,
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "bounces_serve", "--port", str(port)],
        cwd=ROOT,
        env=_manage_env(BOUNCE_ADDRESS=BOUNCE_ADDRESS),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = _read_line(process)
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail(
                "", [BOUNCE_ADDRESS], dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org")
            )
            client.mail("")
            stranger = client.rcpt("someone@elsewhere.example.org")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert ready == (
        "Receiving bounce mail for bounces@news.example.com and bounces+*@news.example.com "
        f"over LMTP on 127.0.0.1:{port}; Ctrl-C stops.\n"
    )
    assert refused == {}
    assert stranger[0] == 550
    assert process.returncode == 0, err
    assert out.strip() == "Stopped."
    assert "Traceback" not in err


def test_bounces_serve_without_a_bounce_address_says_why(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = ""

    with pytest.raises(CommandError, match="BOUNCE_ADDRESS is not set"):
        call_command("bounces_serve", "--port", str(free_port()))


def test_bounces_serve_refuses_a_port_out_of_range() -> None:
    with pytest.raises(CommandError, match="--port must be between 1 and 65535"):
        call_command("bounces_serve", "--port", "70000")


def test_beat_runs_the_fetch_every_minute() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["fetch-bounces"]

    assert entry["task"] == fetch_bounces.name == "newsletters.tasks.fetch_bounces"
    assert entry["schedule"] == 60.0


def test_the_task_is_a_quiet_no_op_on_a_worker_without_a_mailbox(
    celery_worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    assert "BOUNCE_MAILBOX_URL" not in os.environ  # the worker's settings have no mailbox

    task_id = fetch_bounces.delay().id

    wait_until(lambda: f"fetch_bounces[{task_id}] succeeded" in celery_worker.log_tail(200))
    assert redis_client().exists(LOCK_KEY) == 0


@pytest.mark.django_db
def test_the_task_without_a_mailbox_touches_nothing(
    settings: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.BOUNCE_MAILBOX = None
    monkeypatch.setattr("newsletters.inbound.mailbox.redis_client", _refuse)

    fetch_bounces()

    assert caplog.records == []


def _refuse() -> None:
    raise AssertionError("no mailbox: Redis is not to be touched")


@pytest.mark.django_db
def test_the_task_fetches_when_a_mailbox_is_set(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    raw = dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org")
    bounce_mailbox.append(raw)

    fetch_bounces()

    assert [call.raw for call in entry_point.calls] == [raw]
    assert bounce_mailbox.messages() == []
