"""Configuration comes from the environment; mistakes are named, not tracebacks."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from config.environment import (
    ESP_SCHEMES,
    ConfigurationError,
    email_config_from_url,
    read_bool,
    read_database,
    read_email,
    read_webhook_secret,
    redact_email_url,
    redact_url,
)
from tests.config.settings_process import PRODUCTION, python_run


def _manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return python_run(env_overrides, "manage.py", *args)


def test_production_settings_load_when_everything_is_given() -> None:
    result = _manage(PRODUCTION, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY is required when DEBUG is off"),
        ({"SITE_URL": "<unset>"}, "SITE_URL is required when DEBUG is off"),
        ({"SITE_URL": "news.example.com"}, "SITE_URL must be an absolute http(s) URL"),
        ({"DEFAULT_FROM_EMAIL": "<unset>"}, "DEFAULT_FROM_EMAIL is required when DEBUG is off"),
        ({"DEFAULT_FROM_EMAIL": "newsroom"}, "DEFAULT_FROM_EMAIL must be a sender address"),
        ({"TRUSTED_PROXIES": "10.0.0.1,proxy.internal"}, "'proxy.internal' is neither"),
        ({"TRUSTED_PROXIES": "0.0.0.0/0"}, "TRUSTED_PROXIES must name your proxies"),
        ({"ENV_FILE": "/nonexistent/.env"}, "ENV_FILE names /nonexistent/.env"),
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


# --- EMAIL_URL for an ESP (django-anymail) ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "backend", "anymail"),
    [
        (
            "postmark://pm-token-1@?message_stream=broadcast",
            "anymail.backends.postmark.EmailBackend",
            {"POSTMARK_SERVER_TOKEN": "pm-token-1", "POSTMARK_MESSAGE_STREAM": "broadcast"},
        ),
        (
            "sendgrid://:SG.abc.def@/",
            "anymail.backends.sendgrid.EmailBackend",
            {"SENDGRID_API_KEY": "SG.abc.def"},
        ),
        (
            "mailgun://key-123@MG.News.example.com?api_url=https://api.eu.mailgun.net/v3",
            "anymail.backends.mailgun.EmailBackend",
            {
                "MAILGUN_API_KEY": "key-123",
                "MAILGUN_SENDER_DOMAIN": "mg.news.example.com",
                "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
            },
        ),
        (
            "brevo://xkeysib-1@",
            "anymail.backends.brevo.EmailBackend",
            {"BREVO_API_KEY": "xkeysib-1"},
        ),
        (
            "resend://re_a%2Fb@",
            "anymail.backends.resend.EmailBackend",
            {"RESEND_API_KEY": "re_a/b"},
        ),
        (
            "sparkpost://sp-key@?api_url=https://api.eu.sparkpost.com/api/v1",
            "anymail.backends.sparkpost.EmailBackend",
            {
                "SPARKPOST_API_KEY": "sp-key",
                "SPARKPOST_API_URL": "https://api.eu.sparkpost.com/api/v1",
            },
        ),
        (
            "mailjet://public-key:secret-key@",
            "anymail.backends.mailjet.EmailBackend",
            {"MAILJET_API_KEY": "public-key", "MAILJET_SECRET_KEY": "secret-key"},
        ),
        (
            "postmark://t@?api_url=http://127.0.0.1:8025/",
            "anymail.backends.postmark.EmailBackend",
            {"POSTMARK_SERVER_TOKEN": "t", "POSTMARK_API_URL": "http://127.0.0.1:8025/"},
        ),
    ],
)
def test_esp_email_urls_become_anymail_settings(
    url: str, backend: str, anymail: dict[str, str]
) -> None:
    config = email_config_from_url(url)

    assert config == {"EMAIL_BACKEND": backend, "ANYMAIL": anymail}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postmark://", "needs its API key before an '@'"),
        ("postmark://@", "needs its API key before an '@'"),
        ("postmark://secret-token@api.postmarkapp.com", "takes nothing after the '@'"),
        ("postmark://secret-token@?region=eu", "has no ?region= option"),
        ("postmark://secret-token@?api_url=", "?api_url= is empty"),
        ("postmark://secret-token@?api_url=http://api.example.com/", "must use https://"),
        ("postmark://secret-token@?api_url=ftp://x/", "absolute https:// URL"),
        ("postmark://secret-token@?message_stream=a&message_stream=b", "given twice"),
        ("postmark://secret-token@/email", "takes no path"),
        ("mailgun://secret-token@mg.example.com:25", "needs a plain domain"),
        ("mailgun://secret-token@?webhook_signing_key=", "is empty"),
        ("mailjet://secret-token@", "needs both credentials"),
        ("sendgrid://secret-token@?api_url=https://[::1", "absolute https:// URL"),
    ],
)
def test_bad_esp_email_urls_say_what_is_wrong_without_the_key(url: str, problem: str) -> None:
    os.environ["NEWSDESK_TEST_EMAIL"] = url
    try:
        with pytest.raises(ConfigurationError) as raised:
            read_email("NEWSDESK_TEST_EMAIL", default="outbox://")
    finally:
        del os.environ["NEWSDESK_TEST_EMAIL"]

    message = str(raised.value)
    assert message.startswith("NEWSDESK_TEST_EMAIL is not an email URL this app understands")
    assert problem in message
    assert "secret-token" not in message


def test_an_esp_email_url_loads_and_a_bad_one_stops_start_up_without_its_key() -> None:
    good = _manage({**PRODUCTION, "EMAIL_URL": "postmark://pm-secret@"}, "check")
    bad = _manage({**PRODUCTION, "EMAIL_URL": "postmark://pm-secret@?stream=x"}, "check")

    assert good.returncode == 0, good.stderr
    assert bad.returncode != 0
    assert bad.stderr.startswith("Configuration error: EMAIL_URL is not an email URL")
    assert "pm-secret" not in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_malformed_webhook_secret_stops_start_up_without_printing_it() -> None:
    result = _manage({**PRODUCTION, "ANYMAIL_WEBHOOK_SECRET": "no-colon-secret"}, "check")

    assert result.returncode != 0
    assert result.stderr.startswith("Configuration error: ANYMAIL_WEBHOOK_SECRET must be")
    assert "no-colon-secret" not in result.stderr


def test_webhook_secrets_are_user_password_pairs() -> None:
    os.environ["NEWSDESK_TEST_HOOK"] = " hook:one , old:two "
    try:
        assert read_webhook_secret("NEWSDESK_TEST_HOOK") == ["hook:one", "old:two"]
        os.environ["NEWSDESK_TEST_HOOK"] = "hook:one,:nouser"
        with pytest.raises(ConfigurationError, match="NEWSDESK_TEST_HOOK must be user:password"):
            read_webhook_secret("NEWSDESK_TEST_HOOK")
    finally:
        del os.environ["NEWSDESK_TEST_HOOK"]
    assert read_webhook_secret("NEWSDESK_TEST_HOOK") == []


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP0123456789-_", min_size=16)


@given(
    scheme=st.sampled_from(sorted(ESP_SCHEMES)),
    token=_TOKEN,
    rest=st.text(max_size=60),
)
def test_any_text_after_an_esp_key_parses_or_is_a_clear_error_never_echoing_the_key(
    scheme: str, token: str, rest: str
) -> None:
    assume(token not in rest)
    url = f"{scheme}://{token}@{rest}"

    problem, config = "", {}
    try:
        config = email_config_from_url(url)
    except ValueError as error:  # read_email wraps it with the redacted URL
        problem = str(error)

    if problem:
        assert token not in problem
    else:
        assert config["EMAIL_BACKEND"] == ESP_SCHEMES[scheme].backend
        assert config["ANYMAIL"]  # the key (and whatever options parsed) for anymail
    assert token not in redact_email_url(url)


@given(st.text(max_size=80))
def test_any_email_url_parses_or_raises_a_configuration_error(raw: str) -> None:
    assume(
        "\x00" not in raw and raw.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == raw
    )
    os.environ["NEWSDESK_TEST_EMAIL"] = raw
    problem, config = "", {}
    try:
        config = read_email("NEWSDESK_TEST_EMAIL", default="outbox://")
    except ConfigurationError as error:
        problem = str(error)
    finally:
        del os.environ["NEWSDESK_TEST_EMAIL"]

    if problem:
        assert problem.startswith("NEWSDESK_TEST_EMAIL is not an email URL")
    else:
        assert isinstance(config["EMAIL_BACKEND"], str) and config["EMAIL_BACKEND"]


@given(
    scheme=st.sampled_from(sorted(ESP_SCHEMES)),
    key=_TOKEN,
    signing=_TOKEN,
    host=st.from_regex(r"([a-z][a-z0-9]{0,10}\.[a-z]{2,5})?", fullmatch=True),
)
def test_redacted_esp_urls_hide_keys_and_signing_keys(
    scheme: str, key: str, signing: str, host: str
) -> None:
    url = f"{scheme}://{key}:{key}@{host}?webhook_signing_key={signing}&api_url=https://a.example"

    redacted = redact_email_url(url)

    # The whole redacted URL, not "the secret is not in it": a generated secret may be text the
    # URL shows anyway (hypothesis found "webhook_signing_", the parameter's own name).
    assert redacted == (f"{scheme}://***@{host}?webhook_signing_key=***&api_url=https://a.example")
