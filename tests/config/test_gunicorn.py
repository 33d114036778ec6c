"""config/gunicorn.py under a real gunicorn: only TRUSTED_PROXIES may say a request was HTTPS.

Django's SECURE_PROXY_SSL_HEADER believes X-Forwarded-Proto from whoever sent it, so the header
must not reach Django from anyone but our proxies. The app here answers what reached it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devtools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


@contextmanager
def _gunicorn(tmp_path: Path, **env: str) -> Iterator[str]:
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    environment = {name: value for name, value in os.environ.items() if name != "TRUSTED_PROXIES"}
    environment.update(PORT=str(port), DEBUG="off", **env)
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [GUNICORN, "--config", "config/gunicorn.py", "tests.config.scheme_app:app"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=35)
    assert '"GET / HTTP/1.1" 200' in log.read_text(), "no access log line on stdout"


def _seen(base: str) -> dict[str, Any]:
    request = urllib.request.Request(base, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our server
        seen: dict[str, Any] = json.load(response)
    return seen


def test_a_peer_outside_trusted_proxies_cannot_claim_https(tmp_path: Path) -> None:
    with _gunicorn(tmp_path, TRUSTED_PROXIES="192.0.2.10,2001:db8::/32") as base:
        seen = _seen(base)
    assert seen == {"url_scheme": "http", "x_forwarded_proto": None, "remote_addr": "127.0.0.1"}


def test_without_trusted_proxies_nobody_is_believed(tmp_path: Path) -> None:
    with _gunicorn(tmp_path) as base:
        assert _seen(base)["x_forwarded_proto"] is None


def test_a_trusted_proxy_passes_https_through(tmp_path: Path) -> None:
    # 127.0.0.7/8 means 127.0.0.0/8, as settings read it.
    with _gunicorn(tmp_path, TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.7/8") as base:
        seen = _seen(base)
    assert seen["url_scheme"] == "https"
    assert seen["x_forwarded_proto"] == "https"
