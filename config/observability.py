"""Seeing the product run: log format, error reporting (Sentry) and the metrics token.

settings.py calls these in its Logging and Observability sections; each reads one variable and
names it when it is wrong, like config/environment.py.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.utils import Dsn

from config.environment import ConfigurationError, read_str

LOG_FORMATS = ("text", "json")
# Shorter than this, a token could be guessed by a scraper on the same network.
METRICS_TOKEN_MIN_LENGTH = 16

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def read_log_format(name: str) -> str:
    value = (read_str(name, default="text") or "text").lower()
    if value not in LOG_FORMATS:
        raise ConfigurationError(
            f"{name} must be text (lines for people) or json (one object per line for a log "
            f"collector); got {value!r}."
        )
    return value


def logging_config(*, log_format: str) -> dict[str, Any]:
    """Django's LOGGING: everything to stderr through one handler, as text or JSON lines.

    The handler's filter puts the digest and batch a task works on into every record
    (operations/logcontext.py). JSON lines carry time (ISO 8601, UTC), level, logger, message,
    and every extra field of the record: digest_id, batch, Celery's task data.
    """
    formatters: dict[str, dict[str, Any]] = {
        "text": {"()": "operations.logcontext.ContextTextFormatter", "format": _TEXT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"log_context": {"()": "operations.logcontext.LogContextFilter"}},
        "formatters": {"console": formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "console",
                "filters": ["log_context"],
            }
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        # Django's default config gives "django" a console handler of its own; with ours on the
        # root every line would print twice.
        "loggers": {
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            # flufl.bounce logs each of its seventeen detectors per bounce at INFO, and aiosmtpd
            # (bounces_serve) every SMTP command with its addresses: our own line per mail says
            # what came in, without readers' addresses.
            "flufl.bounce": {"level": "WARNING"},
            "mail.log": {"level": "WARNING"},
        },
    }


def read_metrics_token(name: str) -> str | None:
    token = read_str(name, default=None)
    if token is not None and (
        len(token) < METRICS_TOKEN_MIN_LENGTH
        or not token.isprintable()
        or any(char.isspace() for char in token)
    ):
        # Not the value: it is a secret.
        raise ConfigurationError(
            f"{name} must be at least {METRICS_TOKEN_MIN_LENGTH} printable characters without "
            "spaces, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    return token


def sentry_init(*, name: str, environment: str) -> bool:
    """Report errors of web, workers and beat to the Sentry DSN in `name`; whether it is set.

    Errors only (no performance tracing), and no personal data: send_default_pii stays off, so
    events carry no cookies, user, or IP address (readers' addresses are never in them).
    Sentry reads SENTRY_RELEASE itself, else the checkout's git commit.
    """
    dsn = read_str(name, default=None)
    if dsn is None:
        return False
    try:
        Dsn(dsn)
    except ValueError as exc:  # sentry_sdk.utils.BadDsn, or a port that is not a number
        # Not the DSN itself: its key lets anyone send events to the project.
        raise ConfigurationError(
            f"{name} is not a Sentry DSN ({exc}). Copy it from the Sentry project's settings "
            "(Client Keys): https://PUBLIC_KEY@o0.ingest.sentry.io/PROJECT_ID."
        ) from None
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        environment=environment,
    )
    return True
