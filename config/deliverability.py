"""Reading the deliverability variables: DKIM signing, the bounce address and mailbox, pacing.

Each reader checks its value at start-up and stops with a message naming the variable, so a
typo in a key path or a mailbox URL is found when the process starts, not at the first bounce.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from config.environment import ConfigurationError, read_str
from operations.dkim.keys import DkimKeyError, key_load

# The receiving-domain groups with limits and slow-downs of their own (DOMAIN_SEND_RATES);
# every other domain is in "other". newsletters/delivery/domains.py maps an address to its group.
DOMAIN_GROUPS = ("gmail", "outlook", "yahoo", "other")
MAILBOX_SCHEMES = {"imaps": 993, "pop3s": 995}
# A DNS label: what a DKIM selector and each part of a domain must be.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class MailboxConfig:
    """Where bounce and complaint mail is fetched from (BOUNCE_MAILBOX_URL)."""

    scheme: str  # imaps | pop3s
    host: str
    port: int
    username: str
    password: str
    folder: str  # IMAP only; POP3 has one mailbox


def _is_domain(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


def read_dkim(
    domain: str = "DKIM_DOMAIN",
    selector: str = "DKIM_SELECTOR",
    key_file: str = "DKIM_PRIVATE_KEY_FILE",
) -> tuple[str, str, str]:
    """(domain, selector, key file path) or ("", "", "") when DKIM_DOMAIN is unset.

    Checked now: the three go together, and the file holds a key operations/dkim can sign with
    (the same loader, which also serves the keys made in admin).
    """
    values = {name: read_str(name, default=None) or "" for name in (domain, selector, key_file)}
    if not any(values.values()):
        return "", "", ""
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigurationError(
            f"DKIM signing needs {domain}, {selector} and {key_file} together; "
            f"{', '.join(missing)} is not set."
        )
    if not _is_domain(values[domain]):
        raise ConfigurationError(f"{domain} must be a domain name; got {values[domain]!r}.")
    if not _LABEL.match(values[selector]):
        raise ConfigurationError(
            f"{selector} must be one DNS label (letters, digits, '-'); got {values[selector]!r}."
        )
    path = Path(values[key_file])
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(
            f"{key_file} ({path}) cannot be read: {error.strerror}. Make one with "
            "`manage.py dkim_keygen`."
        ) from None
    # A key that is not RSA >= 2048 or Ed25519 stops start-up here, not the first send.
    try:
        key_load(pem=pem, source=f"{key_file} ({path})")
    except DkimKeyError as error:
        raise ConfigurationError(str(error)) from None
    return values[domain].rstrip(".").lower(), values[selector], str(path)


def read_bounce_address(name: str) -> str:
    """The VERP return path's base (bounces@news.example), or "" when unset."""
    value = read_str(name, default=None) or ""
    if not value:
        return ""
    local, at, host = value.rpartition("@")
    if not at or not local or "+" in local or not _is_domain(host) or not local.isascii():
        raise ConfigurationError(
            f"{name} must be a plain address such as bounces@news.example.com (no '+': the "
            f"per-message token goes after one); got {value!r}."
        )
    return f"{local}@{host.lower()}"


def read_mailbox_url(name: str) -> MailboxConfig | None:
    """imaps://user:password@host[:port][/folder] or pop3s://…, parsed; None when unset."""
    value = read_str(name, default=None)
    if value is None:
        return None
    usage = (
        f"{name} must be imaps://user:password@host[:port][/folder] or "
        "pop3s://user:password@host[:port] (TLS only: the mailbox password crosses the network)."
    )
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # an unclosed or malformed [IPv6] host
        raise ConfigurationError(usage) from None
    if parts.scheme not in MAILBOX_SCHEMES or not hostname or not parts.username:
        raise ConfigurationError(usage)
    try:
        port = parts.port or MAILBOX_SCHEMES[parts.scheme]
    except ValueError:
        raise ConfigurationError(f"{name} has a port that is not a number.") from None
    return MailboxConfig(
        scheme=parts.scheme,
        host=hostname,
        port=port,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def read_domain_rates(name: str) -> dict[str, float]:
    """DOMAIN_SEND_RATES: "gmail=40,outlook=20" → {"gmail": 40.0, ...}; a group left out has none.

    A group's rate is on top of SEND_RATE: its mail waits for both.
    """
    value = read_str(name, default=None)
    if value is None:
        return {}
    rates: dict[str, float] = {}
    for item in value.split(","):
        group, equals, raw = item.strip().partition("=")
        group = group.strip().lower()
        if not equals or group not in DOMAIN_GROUPS:
            raise ConfigurationError(
                f"{name} is a comma-separated list of group=rate with groups "
                f"{', '.join(DOMAIN_GROUPS)}; got {item.strip()!r}."
            )
        try:
            rate = float(raw)
        except ValueError:
            rate = math.nan
        if not math.isfinite(rate):  # float() also takes "nan" and "inf"
            raise ConfigurationError(f"{name}: the rate of {group} is not a number.")
        if rate < 0:
            raise ConfigurationError(f"{name}: the rate of {group} must be 0 or more.")
        rates[group] = rate
    return rates
