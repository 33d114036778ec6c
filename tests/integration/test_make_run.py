"""`make run`, run for real: the Procfile's processes come up healthy through honcho, each worker on
its queues, mail reaches the outbox, and Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from celery import Celery
from django.conf import settings

from devtools.ports import free_port
from devtools.with_redis import with_database

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    supervisor: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    output: list[str]  # everything it printed, still growing


@contextmanager
def _make_run(tmp_path: Path) -> Iterator[Run]:
    """`make run` started and shown healthy (its banner printed); stopped as by Ctrl-C after."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DEBUG": "on",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        # A Redis database of its own: its workers must not take the test suite's tasks, nor
        # those of a second suite beside this one (TEST_REDIS_DB), which gets another.
        "REDIS_URL": with_database(settings.REDIS_URL, (_redis_db(settings.REDIS_URL) + 8) % 16),
        # Its first run writes .env; here, not into the checkout.
        "ENV_FILE": str(tmp_path / ".env"),
    }
    env.pop("EMAIL_URL", None)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "devtools.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        assert supervisor.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = supervisor.stdout.readline().decode(errors="replace")
            if not line and supervisor.poll() is not None:
                break
            output.append(line)
            if "Press Ctrl-C to stop everything." in line:
                break
        transcript = "".join(output)
        # Keep reading in the background: a full pipe would block the supervisor's own output.
        stream = supervisor.stdout
        threading.Thread(
            target=lambda: output.extend(line.decode(errors="replace") for line in stream),
            daemon=True,
        ).start()
        assert "The newsletter manager is running." in transcript, transcript[-3000:]
        yield Run(supervisor=supervisor, port=port, env=env, output=output)
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGINT)
            try:
                supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                supervisor.kill()  # what it started then stops by itself (devtools/procfile.py)
                supervisor.wait()


def test_run_serves_the_site_healthy_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    with _make_run(tmp_path) as run:
        assert "Staff login: editor / " in "".join(run.output)
        assert (tmp_path / ".env").read_text().count("SECRET_KEY=") == 1
        _assert_manage_py_sees_what_make_run_sees(run.env)

        health = _get(run.port, "/healthz")
        assert health.status == 200
        figures = json.loads(health.body)
        assert figures["ok"] and figures["worker"]["alive"] >= 1
        assert _get(run.port, "/").status == 200
        assert _get(run.port, "/admin/login/").status == 200
        # gunicorn with DEBUG on serves the admin's CSS straight from the app (no collectstatic).
        css = _get(run.port, "/static/admin/css/base.css")
        assert (css.status, css.content_type) == (200, "text/css")
        # The container's health check, against the same server.
        check = [sys.executable, "deploy/healthcheck.py"]
        assert subprocess.run(check, cwd=ROOT, env=run.env, timeout=10).returncode == 0

        assert _queues_by_worker(run.env["REDIS_URL"], expected=3) == {
            "transactional": ["transactional"],
            "worker": ["bulk", "default"],
            "long": ["long"],
        }
        _assert_a_signup_is_confirmed_by_mail(run.port, run.output)

        started = _descendants(run.supervisor)
        commands = [" ".join(p.cmdline()) for p in started]
        assert sum("config/gunicorn.py" in command for command in commands) >= 2  # + a worker
        for name in ("transactional", "worker", "long"):
            assert sum(f"--hostname {name}@" in command for command in commands) >= 2  # + pool
        assert sum(command.endswith("config beat --loglevel INFO") for command in commands) == 1

        run.supervisor.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert run.supervisor.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(started, timeout=5)
        assert alive == [], [p.cmdline() for p in alive]


def test_processes_stop_by_themselves_when_make_run_is_killed(tmp_path: Path) -> None:
    # SIGKILL leaves run.py no chance to stop anything: what it started must notice and stop.
    with _make_run(tmp_path) as run:
        started = _descendants(run.supervisor)
        assert len(started) >= 10
        run.supervisor.kill()
        run.supervisor.wait()
        _, alive = psutil.wait_procs(started, timeout=20)
        assert alive == [], [p.cmdline() for p in alive]


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def _get(port: int, path: str) -> Answer:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return Answer(response.status, response.headers.get_content_type(), response.read())


def _descendants(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return list(psutil.Process(process.pid).children(recursive=True))


def _redis_db(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


def _queues_by_worker(redis_url: str, *, expected: int) -> dict[str, list[str]]:
    """Which queues each worker on `redis_url`'s broker consumes, by the Procfile's names.

    Asked until `expected` workers answer: /healthz counts a worker by its heartbeat, which starts
    before it takes control commands (after syncing with the others).
    """
    replies: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while len(replies) < expected and time.monotonic() < deadline:
        # A new client each time: a late reply to the last question would count twice.
        with Celery(broker=redis_url) as probe:
            replies = probe.control.inspect(timeout=2).active_queues() or {}
    return {
        node.split("@")[0]: sorted(str(queue["name"]) for queue in queues)
        for node, queues in replies.items()
    }


def _assert_a_signup_is_confirmed_by_mail(port: int, output: list[str]) -> None:
    # Through the transactional worker: the web process stores the signup, a worker applies it
    # and sends the confirmation, which lands in the local outbox.
    address = f"make-run-{uuid.uuid4().hex[:12]}@example.com"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/subscribe",
        data=json.dumps({"email": address, "lists": ["morning-briefing"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own server
        assert response.status == 202
    outbox = Path(settings.OUTBOX_DIR)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(address.encode() in mail.read_bytes() for mail in outbox.glob("*.eml")):
            return
        time.sleep(0.25)
    log = "".join(output)[-4000:]
    pytest.fail(f"no confirmation mail to {address} in {outbox} within 30 s:\n{log}")


def _assert_manage_py_sees_what_make_run_sees(run_env: dict[str, str]) -> None:
    """README's next step after `make run`: `manage.py changepassword editor`, with nothing but
    the .env that make run wrote (no DEBUG, no SECRET_KEY in the environment)."""
    env = {k: v for k, v in run_env.items() if k not in {"DEBUG", "SECRET_KEY"}}
    password = "a-new-editor-password-77"
    # A session of its own has no terminal, so getpass reads the two answers from stdin.
    changed = subprocess.run(
        [sys.executable, "manage.py", "changepassword", "editor"],
        cwd=ROOT,
        env=env,
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "Password changed successfully for user 'editor'" in changed.stdout
