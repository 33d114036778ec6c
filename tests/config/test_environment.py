"""Configuration comes from the environment; mistakes are named, not tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from config.environment import ConfigurationError, read_bool, read_database, read_email, redact_url

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "x" * 50,
    "SITE_URL": "https://news.example.com",
    "MAILING_ADDRESS": "1 Example Street",
}


def _manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in env_overrides}
    env.update(env_overrides)
    env = {k: v for k, v in env.items() if v != "<unset>"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_load_when_everything_is_given() -> None:
    result = _manage(PRODUCTION, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY is required when DEBUG is off"),
        ({"SITE_URL": "<unset>"}, "SITE_URL is required when DEBUG is off"),
        ({"SITE_URL": "news.example.com"}, "SITE_URL must be an absolute http(s) URL"),
        ({"DATABASE_URL": "postgress//nope"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "mysql2://u@h/db"}, "DATABASE_URL is not a database URL"),
        ({"EMAIL_URL": "carrier-pigeon://coop"}, "EMAIL_URL is not an email URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must be a redis://"),
        ({"DEBUG": "maybe"}, "DEBUG must be one of"),
        ({"SEND_RATE": "fast"}, "SEND_RATE must be a number"),
    ],
)
def test_bad_configuration_is_one_clear_line_naming_the_variable(
    overrides: dict[str, str], named: str
) -> None:
    result = _manage({**PRODUCTION, **overrides}, "check")

    assert result.returncode != 0
    assert named in result.stderr
    assert result.stderr.startswith("Configuration error:")
    assert "Traceback" not in result.stderr


def test_a_bad_database_url_never_prints_its_password() -> None:
    result = _manage({**PRODUCTION, "DATABASE_URL": "bogus://admin:hunter2secret@db/x"}, "check")

    assert "DATABASE_URL" in result.stderr
    assert "hunter2secret" not in result.stderr


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    password=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.~", min_size=1, max_size=40
    ),
    host=st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z]{2,5})?", fullmatch=True),
)
def test_redacted_urls_never_contain_the_password(user: str, password: str, host: str) -> None:
    url = f"smtp+tls://{user}:{password}@{host}:587"

    redacted = redact_url(url)

    assert f":{password}@" not in redacted
    assert redacted == f"smtp+tls://{user}:***@{host}:587"


@given(st.text(max_size=30))
def test_read_bool_accepts_the_usual_spellings_and_rejects_the_rest(raw: str) -> None:
    assume(
        "\x00" not in raw and raw.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == raw
    )
    os.environ["NEWSDESK_TEST_FLAG"] = raw
    try:
        value = raw.strip().lower()
        if value in {"1", "true", "yes", "on"}:
            assert read_bool("NEWSDESK_TEST_FLAG", default=False) is True
        elif value in {"0", "false", "no", "off", ""}:
            assert read_bool("NEWSDESK_TEST_FLAG", default=False) is False
        else:
            with pytest.raises(ConfigurationError, match="NEWSDESK_TEST_FLAG"):
                read_bool("NEWSDESK_TEST_FLAG", default=False)
    finally:
        os.environ.pop("NEWSDESK_TEST_FLAG", None)


def test_database_urls_parse() -> None:
    os.environ["NEWSDESK_TEST_DB"] = "postgres://postgres@127.0.0.1:5432/news"
    try:
        config = read_database("NEWSDESK_TEST_DB", default="sqlite:////tmp/x.sqlite3")
    finally:
        del os.environ["NEWSDESK_TEST_DB"]
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "news"


def test_outbox_is_the_default_email_url() -> None:
    config = read_email("NEWSDESK_TEST_UNSET_EMAIL", default="outbox://")
    assert config["EMAIL_BACKEND"] == "outbox.backend.OutboxEmailBackend"
