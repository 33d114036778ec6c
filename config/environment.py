"""Reading configuration from the environment, with errors that name the variable.

django-environ does the parsing; this module only turns its failures (a KeyError for an unknown
scheme, a ValueError from a bad port, ...) into one clear message per variable, so that a typo in
`DATABASE_URL` reads as "DATABASE_URL ..." at start-up, not as a traceback from deep in Django.
"""

from __future__ import annotations

import os
import warnings
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# The local outbox is a file-per-message backend that staff read in the browser (see outbox/).
environ.Env.EMAIL_SCHEMES["outbox"] = "outbox.backend.OutboxEmailBackend"


class ConfigurationError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed; the message names it."""


env = environ.Env()

# The databases the product is built and tested on (PostgreSQL in production, SQLite embedded).
SUPPORTED_DATABASE_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print in logs, errors and the admin."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def read_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be one of on/off, true/false, yes/no, 1/0; got {raw!r}.")


def read_str(name: str, *, default: str | None) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def read_float(name: str, *, default: float, minimum: float = 0.0) -> float:
    raw = read_str(name, default=None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number; got {raw!r}.") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}; got {raw!r}.")
    return value


def read_list(name: str, *, default: list[str]) -> list[str]:
    raw = read_str(name, default=None)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def read_database(name: str, *, default: str) -> dict[str, Any]:
    url = read_str(name, default=default) or default
    problem = ""
    config: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            # django-environ only warns about an unknown scheme; we make it the error it is.
            warnings.simplefilter("ignore")
            config = dict(env.db_url_config(url))
    except Exception as exc:  # django-environ raises KeyError/ValueError/... for bad URLs
        problem = f": {exc!s}"
    if problem or config.get("ENGINE") not in SUPPORTED_DATABASE_ENGINES:
        raise ConfigurationError(
            f"{name} is not a database URL this app understands ({redact_url(url)!r}){problem}. "
            "PostgreSQL and SQLite are supported: postgres://user:password@host:5432/dbname or "
            "sqlite:////absolute/path/db.sqlite3."
        )
    return config


def read_email(name: str, *, default: str) -> dict[str, Any]:
    url = read_str(name, default=default) or default
    try:
        config = env.email_url_config(url)
    except Exception as exc:
        raise ConfigurationError(
            f"{name} is not an email URL this app understands ({redact_url(url)!r}): {exc!s}. "
            "Expected smtp://host:port, smtp+tls://user:password@host:587, or outbox://."
        ) from None
    return dict(config)


def read_redis_url(name: str, *, default: str) -> str:
    url = read_str(name, default=default) or default
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ConfigurationError(
            f"{name} must be a redis://, rediss:// or unix:// URL; got {redact_url(url)!r}."
        )
    try:
        parts.port  # noqa: B018 - urlsplit parses the port lazily; a bad one raises here
    except ValueError:
        raise ConfigurationError(f"{name} has an invalid port: {redact_url(url)!r}.") from None
    return url


def read_site_url(name: str, *, default: str | None) -> str | None:
    url = read_str(name, default=default)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an absolute http(s) URL such as https://news.example.com; got {url!r}."
        )
    return url.rstrip("/")
