"""`make run`'s supervisor, run for real: everything comes up healthy and Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from devtools.ports import free_port
from devtools.with_redis import with_database

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_run_serves_the_site_healthy_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DEBUG": "on",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        # A Redis database of its own: its worker must not take the test suite's tasks.
        "REDIS_URL": with_database(settings.REDIS_URL, 13),
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
        threading.Thread(target=supervisor.stdout.read, daemon=True).start()
        assert "The newsletter manager is running." in transcript, transcript[-3000:]
        assert "Staff login: editor / " in transcript

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.load(response)
            assert response.status == 200
        assert health["ok"] and health["worker"]["alive"] >= 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
            assert response.status == 200

        started = [p for p in psutil.Process(supervisor.pid).children(recursive=True)]
        assert len(started) >= 4  # worker (+ its pool), beat, runserver (+ its reloaded child)

        supervisor.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert supervisor.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(started, timeout=5)
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
