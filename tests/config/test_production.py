"""Secure by configuration: the production variables in .env.example pass `check --deploy`."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
# NAME=value, or a commented-out "# NAME=value": the variables .env.example documents.
_DOCUMENTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)


def _documented() -> dict[str, str]:
    return {name: value for name, value in _DOCUMENTED.findall(EXAMPLE.read_text())}


def _production_env_file(tmp_path: Path) -> Path:
    """.env.example as an operator fills it in: only its SECRET_KEY is left to them."""
    text = EXAMPLE.read_text().replace(
        "\nSECRET_KEY=\n", f"\nSECRET_KEY={secrets.token_urlsafe(50)}\n"
    )
    path = tmp_path / "production.env"
    path.write_text(text)
    return path


def _manage_with(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Nothing of ours from this process's environment: only the file speaks. Nor the browser
    # tests' DJANGO_ALLOW_ASYNC_UNSAFE (tests/browser/conftest.py), which a deployment never sets.
    ignored = {*_documented(), "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env["ENV_FILE"] = str(env_file)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_documented_production_settings_pass_check_deploy_without_a_warning(
    tmp_path: Path,
) -> None:
    result = _manage_with(
        _production_env_file(tmp_path), "check", "--deploy", "--fail-level", "WARNING"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_the_example_leaves_the_secret_key_to_the_operator(tmp_path: Path) -> None:
    # Copied unchanged, it stops start-up rather than running with a key everyone knows.
    result = _manage_with(EXAMPLE, "check")

    assert result.returncode != 0
    assert result.stderr.startswith("Configuration error: SECRET_KEY is required")


def test_every_variable_settings_read_is_documented_in_the_example() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "config").glob("*.py"))
    # Settings' readers, and gunicorn's config, which reads the environment before Django loads.
    reads = r"(?:read_\w+\(\s*|name=|environ\.get\(\s*|_int\(\s*|_networks\(\s*)"
    read = set(re.findall(reads + r"[\"']([A-Z][A-Z0-9_]*)[\"']", sources))
    # ENV_FILE says which file to read; the example's header explains it.
    read.discard("ENV_FILE")

    assert read, "the pattern found no read_*() call"
    assert read - set(_documented()) == set()


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_except_for_health_checks_and_metrics() -> None:
    client = Client()

    page = client.get("/subscribe/")
    health = client.get("/healthz")
    metrics = client.get("/metrics")

    assert page.status_code == 301
    assert page["Location"].startswith("https://")
    # The balancer's plain-HTTP check gets the real answer (503 here: no worker runs).
    assert health.status_code != 301
    assert metrics.status_code != 301
