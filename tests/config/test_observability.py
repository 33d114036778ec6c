"""LOG_FORMAT, METRICS_TOKEN and SENTRY_DSN: named when wrong, and Sentry really gets the errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.config.settings_process import PRODUCTION, python_run

OURS = ("LOG_FORMAT", "METRICS_TOKEN", "SENTRY_DSN", "SENTRY_ENVIRONMENT")


def _run(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return python_run(env_overrides, *args, clear=OURS)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text (lines for people) or json"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must be at least 16 printable characters"),
        ({"METRICS_TOKEN": "a token with some spaces"}, "METRICS_TOKEN must be at least 16"),
        ({"SENTRY_DSN": "not-a-dsn"}, "SENTRY_DSN is not a Sentry DSN (Unsupported scheme"),
        ({"SENTRY_DSN": "https://sentry.example.com/1"}, "SENTRY_DSN is not a Sentry DSN"),
        ({"SENTRY_DSN": "https://k3y@sentry.example.com:port/1"}, "SENTRY_DSN is not a Sentry"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(
    overrides: dict[str, str], named: str
) -> None:
    result = _run({**PRODUCTION, **overrides}, "manage.py", "check")

    assert result.returncode != 0
    assert result.stderr.startswith("Configuration error:")
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_dsn_is_named_without_its_key() -> None:
    result = _run(
        {**PRODUCTION, "SENTRY_DSN": "https://publickey0123@o1.ingest.sentry.io/not-a-project"},
        "manage.py",
        "check",
    )

    assert "SENTRY_DSN is not a Sentry DSN (Invalid project" in result.stderr
    assert "publickey0123" not in result.stderr


def test_good_values_load() -> None:
    result = _run(
        {
            **PRODUCTION,
            "LOG_FORMAT": "JSON",
            "METRICS_TOKEN": "s3cret-token-of-32-characters-ok",
            "SENTRY_DSN": "https://key@o1.ingest.sentry.io/123",
        },
        "manage.py",
        "check",
    )

    assert result.returncode == 0, result.stderr


# --- Sentry gets the errors ----------------------------------------------------------------------


class _Sentry(ThreadingHTTPServer):
    """A stand-in for Sentry's ingest: keeps every envelope posted to it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Envelopes)
        self.envelopes: list[bytes] = []

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/1"


class _Envelopes(BaseHTTPRequestHandler):
    server: _Sentry

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sentry() -> Iterator[_Sentry]:
    server = _Sentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# A view that raises inside a digest's log context, requested through Django's whole stack.
_BROKEN_VIEW = """
import django, sentry_sdk
django.setup()
import config.urls
from django.test import Client, override_settings
from django.urls import path
from operations.logcontext import log_context

def broken(request):
    with log_context(digest_id=42, batch="1-200"):
        raise RuntimeError("the view broke on purpose")

urlpatterns = [path("broken", broken), *config.urls.urlpatterns]
with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
    client = Client(raise_request_exception=False)
    status = client.get("/broken", REMOTE_ADDR="203.0.113.9").status_code
sentry_sdk.flush(timeout=10)
print(status, sentry_sdk.get_client().is_active())
"""


def _events(envelopes: list[bytes]) -> list[dict[str, Any]]:
    """The error events in the envelopes (one header line, then item header and payload pairs)."""
    events = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def _broken_view_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(
        {
            "DEBUG": "on",
            "ENV_FILE": os.devnull,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **env,
        },
        "-c",
        _BROKEN_VIEW,
    )


def test_an_error_in_a_view_is_reported_to_sentry_with_its_digest(
    sentry: _Sentry, tmp_path: Path
) -> None:
    result = _broken_view_run(tmp_path, SENTRY_DSN=sentry.dsn)

    assert result.stdout.split() == ["500", "True"], result.stderr
    [event] = _events(sentry.envelopes)
    exception = event["exception"]["values"][-1]  # the one raised (any it chains come first)
    assert (exception["type"], exception["value"]) == ("RuntimeError", "the view broke on purpose")
    assert event["environment"] == "development"
    assert event["tags"]["digest_id"] == "42" and event["tags"]["batch"] == "1-200"
    # send_default_pii is off: no reader's address, cookie or IP goes to Sentry.
    assert "203.0.113.9" not in json.dumps(event)


def test_without_a_dsn_nothing_is_sent(sentry: _Sentry, tmp_path: Path) -> None:
    result = _broken_view_run(tmp_path)

    assert result.stdout.split() == ["500", "False"], result.stderr
    assert sentry.envelopes == []
