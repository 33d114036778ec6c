"""Reading configuration from the environment, with errors that name the variable.

django-environ does the parsing; this module only turns its failures (a KeyError for an unknown
scheme, a ValueError from a bad port, ...) into one clear message per variable, so that a typo in
`DATABASE_URL` reads as "DATABASE_URL ..." at start-up, not as a traceback from deep in Django.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# The local outbox is a file-per-message backend that staff read in the browser (see outbox/).
environ.Env.EMAIL_SCHEMES["outbox"] = "outbox.backend.OutboxEmailBackend"


T = TypeVar("T")


class ConfigurationError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed; the message names it."""


env = environ.Env()

# The databases the product is built and tested on (PostgreSQL in production, SQLite embedded).
SUPPORTED_DATABASE_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print in logs, errors and the admin."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" host: we cannot tell where a password would be
        return "<a URL that cannot be parsed>"
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


@dataclass(frozen=True)
class EspScheme:
    """An EMAIL_URL scheme that sends through one of django-anymail's ESP backends."""

    backend: str
    prefix: str  # anymail's setting prefix: ANYMAIL["POSTMARK_SERVER_TOKEN"], ...
    key_setting: str  # where the credential in the URL's user part goes
    secret_setting: str = ""  # a second credential, from the URL's password part (Mailjet)
    host_setting: str = ""  # what the URL's host means, if anything (Mailgun's sender domain)
    options: tuple[str, ...] = ()  # query parameters besides api_url, as anymail settings


# django-anymail's HTTP backends (no extra packages needed), by EMAIL_URL scheme. Setting names
# are anymail's (docs: "Supported ESPs"); the URL's user part is the API key or token.
ESP_SCHEMES = {
    "postmark": EspScheme(
        "anymail.backends.postmark.EmailBackend",
        "POSTMARK",
        "SERVER_TOKEN",
        # Postmark sends bulk mail only through a "broadcast" message stream.
        options=("message_stream",),
    ),
    "sendgrid": EspScheme("anymail.backends.sendgrid.EmailBackend", "SENDGRID", "API_KEY"),
    "mailgun": EspScheme(
        "anymail.backends.mailgun.EmailBackend",
        "MAILGUN",
        "API_KEY",
        host_setting="SENDER_DOMAIN",
        options=("webhook_signing_key",),
    ),
    "brevo": EspScheme("anymail.backends.brevo.EmailBackend", "BREVO", "API_KEY"),
    "resend": EspScheme("anymail.backends.resend.EmailBackend", "RESEND", "API_KEY"),
    "sparkpost": EspScheme("anymail.backends.sparkpost.EmailBackend", "SPARKPOST", "API_KEY"),
    "mailjet": EspScheme(
        "anymail.backends.mailjet.EmailBackend",
        "MAILJET",
        "API_KEY",
        secret_setting="SECRET_KEY",  # noqa: S106 - a setting's name, not a secret
    ),
}
# Query parameters that hold a secret: never printed.
_SECRET_OPTIONS = {"webhook_signing_key"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
EMAIL_URL_FORMS = (
    "Expected smtp://host:port, smtp+tls://user:password@host:587, outbox://, or an ESP: "
    "postmark://SERVER_TOKEN@, sendgrid://API_KEY@, mailgun://API_KEY@SENDER_DOMAIN, "
    "brevo://API_KEY@, resend://API_KEY@, sparkpost://API_KEY@, "
    "mailjet://API_KEY:SECRET_KEY@ (each with an optional ?api_url=https://...)."
)


def redact_email_url(url: str) -> str:
    """EMAIL_URL safe to print: an ESP's API key (its user part) and secret options hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be parsed>"
    if parts.scheme.lower() not in ESP_SCHEMES:
        return redact_url(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{key}=***" if key in _SECRET_OPTIONS else f"{key}={value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def email_config_from_url(url: str) -> dict[str, Any]:
    """Django's email settings for an EMAIL_URL; raises ValueError saying what is wrong.

    The message never contains the URL's credentials. An ESP's settings come back under
    "ANYMAIL", in the form django-anymail reads them.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ESP_SCHEMES:
        return _esp_config(url, ESP_SCHEMES[scheme])
    try:
        config = dict(env.email_url_config(url))
    except Exception as exc:  # django-environ raises KeyError/ValueError/... for bad URLs
        raise ValueError(f"{exc!s}") from None
    if not config.get("EMAIL_BACKEND"):
        raise ValueError("no email backend for that scheme")
    return config


def _esp_config(url: str, esp: EspScheme) -> dict[str, Any]:
    name = url.partition("://")[0].lower()
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError("it cannot be parsed as a URL") from None
    userinfo, at, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    if parts.fragment or parts.path not in {"", "/"}:
        raise ValueError(f"{name}:// takes no path or '#'; percent-encode such characters in a key")
    settings: dict[str, Any] = {}
    if esp.secret_setting:
        if not (at and user and password):
            raise ValueError(f"{name}:// needs both credentials: {name}://API_KEY:SECRET_KEY@")
        settings[f"{esp.prefix}_{esp.key_setting}"] = user
        settings[f"{esp.prefix}_{esp.secret_setting}"] = password
    else:
        key = password or user
        if not (at and key):
            raise ValueError(f"{name}:// needs its API key before an '@': {name}://API_KEY@")
        settings[f"{esp.prefix}_{esp.key_setting}"] = key
    if host:
        if not esp.host_setting:
            raise ValueError(
                f"{name}:// takes nothing after the '@'; use ?api_url= for another endpoint"
            )
        if not _is_domain(host):
            raise ValueError(f"{name}://API_KEY@SENDER_DOMAIN needs a plain domain after the '@'")
        settings[f"{esp.prefix}_{esp.host_setting}"] = host.lower()
    seen: set[str] = set()
    for option, value in query:
        if option in seen:
            raise ValueError(f"?{option}= is given twice")
        seen.add(option)
        if option not in {"api_url", *esp.options}:
            allowed = ", ".join(f"?{o}=" for o in ("api_url", *esp.options))
            raise ValueError(f"{name}:// has no ?{option}= option (it takes {allowed})")
        if not value.strip():
            raise ValueError(f"?{option}= is empty")
        if option == "api_url":
            _check_api_url(value)
        settings[f"{esp.prefix}_{option.upper()}"] = value.strip()
    return {"EMAIL_BACKEND": esp.backend, "ANYMAIL": settings}


def _is_domain(host: str) -> bool:
    labels = host.split(".")
    return len(labels) >= 2 and all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    )


def _check_api_url(value: str) -> None:
    # The API key travels with every request: plain http only to this machine (a test server).
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host or parts.scheme not in {"http", "https"}:
        raise ValueError("?api_url= must be an absolute https:// URL")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ValueError("?api_url= must use https:// (plain http only to 127.0.0.1/localhost)")


def read_email(name: str, *, default: str) -> dict[str, Any]:
    url = read_str(name, default=default) or default
    try:
        return email_config_from_url(url)
    except ValueError as exc:
        raise ConfigurationError(
            f"{name} is not an email URL this app understands ({redact_email_url(url)!r}): "
            f"{exc!s}. {EMAIL_URL_FORMS}"
        ) from None


def read_webhook_secret(name: str) -> list[str]:
    """django-anymail's WEBHOOK_SECRET: "user:password" pairs (comma-separated to rotate)."""
    raw = read_str(name, default=None)
    if raw is None:
        return []
    pairs = [pair.strip() for pair in raw.split(",") if pair.strip()]
    for pair in pairs:
        user, colon, password = pair.partition(":")
        if not (colon and user and password):
            # Not the value itself: it is a password.
            raise ConfigurationError(
                f"{name} must be user:password (several comma-separated while you rotate "
                "them), the basic-auth credentials your ESP's webhook URL carries, e.g. "
                "https://user:password@news.example.com/anymail/postmark/tracking/."
            )
    return pairs


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


def read_from_address(name: str, *, default: str | None) -> str | None:
    """A sender such as "Newsroom <newsletter@news.example.com>", checked at start-up.

    A bad one would otherwise surface only when a worker first sends, as a refused message.
    """
    value = read_str(name, default=default)
    if value is None:
        return None
    _, address = parseaddr(value)
    if "\n" in value or "\r" in value or "@" not in address:
        raise ConfigurationError(
            f"{name} must be a sender address such as "
            f"'Newsroom <newsletter@news.example.com>'; got {value!r}."
        )
    return value


def read_networks(name: str) -> list[str]:
    """Comma-separated IP addresses or CIDR ranges, each checked now, in their normal form."""
    networks: list[str] = []
    for entry in read_list(name, default=[]):
        try:
            # strict=False: 10.0.0.7/8 means 10.0.0.0/8, as it does to nginx and HAProxy.
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be comma-separated IP addresses or CIDR ranges (10.0.0.5, "
                f"10.0.0.0/8, 2001:db8::/32); {entry!r} is neither."
            ) from None
        if network.prefixlen == 0:
            # Trusting every address would let any reader write the address we believe.
            raise ConfigurationError(
                f"{name} must name your proxies, not every address ({entry!r})."
            )
        networks.append(str(network))
    return networks


def read_choice(name: str, *, default: str, choices: tuple[str, ...], meaning: str) -> str:
    """One of `choices` (any case), or a start-up error naming them and what the variable says."""
    value = (read_str(name, default=default) or "").lower()
    if value not in choices:
        named = f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise ConfigurationError(f"{name} must be {named} (got {value!r}): {meaning}.")
    return value
