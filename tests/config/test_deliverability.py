"""Deliverability variables: each good value parsed, each bad one a ConfigurationError naming it.

The readers take their values from the environment (config/deliverability.py); most tests set
it for one call, and one starts the real settings in a process of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given
from hypothesis import strategies as st

from config.deliverability import (
    MailboxConfig,
    read_bounce_address,
    read_dkim,
    read_domain_rates,
    read_mailbox_url,
)
from config.environment import ConfigurationError
from operations.dkim.keys import key_generate, key_pem
from tests.config.settings_process import PRODUCTION, python_run

DKIM_NAMES = ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE")


@contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """The process environment with `values` set (None: unset) for the block's duration."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "dkim.pem"
    path.write_text(key_pem(key=key_generate(algorithm="ed25519")))
    return str(path)


# --- DKIM ----------------------------------------------------------------------------------------


def test_dkim_is_off_when_none_of_its_variables_is_set() -> None:
    with environ(DKIM_DOMAIN=None, DKIM_SELECTOR="", DKIM_PRIVATE_KEY_FILE="  "):
        assert read_dkim() == ("", "", "")


def test_dkim_reads_the_domain_in_lower_case_without_its_final_dot(key_file: str) -> None:
    with environ(
        DKIM_DOMAIN="News.Example.COM.", DKIM_SELECTOR="nd-2026", DKIM_PRIVATE_KEY_FILE=key_file
    ):
        assert read_dkim() == ("news.example.com", "nd-2026", key_file)


@pytest.mark.parametrize("missing", DKIM_NAMES)
def test_dkim_needs_all_three_variables_and_names_the_one_missing(
    missing: str, key_file: str
) -> None:
    values: dict[str, str | None] = dict(
        zip(DKIM_NAMES, ("news.example.com", "nd1", key_file), strict=True)
    )
    values[missing] = None

    with environ(**values), pytest.raises(ConfigurationError) as error:
        read_dkim()

    assert f"{missing} is not set" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DKIM_DOMAIN", "localhost", "DKIM_DOMAIN must be a domain name"),
        ("DKIM_DOMAIN", "news_example.com", "DKIM_DOMAIN must be a domain name"),
        ("DKIM_DOMAIN", "-news.example.com", "DKIM_DOMAIN must be a domain name"),
        ("DKIM_SELECTOR", "nd1.keys", "DKIM_SELECTOR must be one DNS label"),
        ("DKIM_SELECTOR", "nd 1", "DKIM_SELECTOR must be one DNS label"),
        ("DKIM_PRIVATE_KEY_FILE", "/nonexistent/dkim.pem", "DKIM_PRIVATE_KEY_FILE (/nonexist"),
    ],
)
def test_a_bad_dkim_value_is_named(name: str, value: str, says: str, key_file: str) -> None:
    values = dict(zip(DKIM_NAMES, ("news.example.com", "nd1", key_file), strict=True))

    with environ(**{**values, name: value}), pytest.raises(ConfigurationError) as error:
        read_dkim()

    assert says in str(error.value)


def test_a_key_file_that_is_a_directory_is_named(tmp_path: Path) -> None:
    with (
        environ(DKIM_DOMAIN="news.example.com", DKIM_SELECTOR="nd1", DKIM_PRIVATE_KEY_FILE="/"),
        pytest.raises(ConfigurationError, match=r"DKIM_PRIVATE_KEY_FILE \(/\) cannot be read"),
    ):
        read_dkim()


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"-----BEGIN PRIVATE KEY-----\n", "not a PEM private key"),
        (
            # A short key on purpose: the loader must refuse it.
            rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(  # noqa: S505
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "an RSA key of 1024 bits",
        ),
    ],
)
def test_a_key_the_signer_could_not_use_stops_start_up(
    tmp_path: Path, pem: bytes, message: str
) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(pem)
    with (
        environ(
            DKIM_DOMAIN="news.example.com", DKIM_SELECTOR="nd1", DKIM_PRIVATE_KEY_FILE=str(path)
        ),
        pytest.raises(ConfigurationError, match=rf"DKIM_PRIVATE_KEY_FILE \({path}\): {message}"),
    ):
        read_dkim()


# --- BOUNCE_ADDRESS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, ""),
        ("   ", ""),
        ("bounces@news.example.com", "bounces@news.example.com"),
        (" Bounces@News.Example.COM ", "Bounces@news.example.com"),  # a local part keeps its case
        ("return.path@mail.news.example", "return.path@mail.news.example"),
    ],
)
def test_the_bounce_address_is_read(value: str | None, parsed: str) -> None:
    with environ(BOUNCE_ADDRESS=value):
        assert read_bounce_address("BOUNCE_ADDRESS") == parsed


@pytest.mark.parametrize(
    "value",
    [
        "bounces",
        "@news.example.com",
        "bounces@",
        "bounces+verp@news.example.com",  # the token goes after the one '+'
        "bounces@localhost",
        "bounces@news_example.com",
        "böunces@news.example.com",
        "Bounces <bounces@news.example.com>",
    ],
)
def test_a_bad_bounce_address_is_named(value: str) -> None:
    with environ(BOUNCE_ADDRESS=value), pytest.raises(ConfigurationError) as error:
        read_bounce_address("BOUNCE_ADDRESS")

    assert str(error.value).startswith("BOUNCE_ADDRESS must be a plain address")


# --- BOUNCE_MAILBOX_URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, None),
        (
            "imaps://bounces:s%40cret@mail.example.com/Bounces%20In",
            MailboxConfig("imaps", "mail.example.com", 993, "bounces", "s@cret", "Bounces In"),
        ),
        (
            "imaps://b%40news.example:pw@mail.example.com:10993",
            MailboxConfig("imaps", "mail.example.com", 10993, "b@news.example", "pw", "INBOX"),
        ),
        (
            "pop3s://bounces:pw@pop.example.com",
            MailboxConfig("pop3s", "pop.example.com", 995, "bounces", "pw", "INBOX"),
        ),
        (
            "imaps://bounces@mail.example.com/",
            MailboxConfig("imaps", "mail.example.com", 993, "bounces", "", "INBOX"),
        ),
    ],
)
def test_the_bounce_mailbox_url_is_parsed(value: str | None, parsed: MailboxConfig | None) -> None:
    with environ(BOUNCE_MAILBOX_URL=value):
        assert read_mailbox_url("BOUNCE_MAILBOX_URL") == parsed


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("imap://bounces:pw@mail.example.com", "must be imaps://"),  # no TLS
        ("pop3://bounces:pw@mail.example.com", "must be imaps://"),
        ("https://bounces:pw@mail.example.com", "must be imaps://"),
        ("imaps://mail.example.com/INBOX", "must be imaps://"),  # no user
        ("imaps://bounces:pw@/INBOX", "must be imaps://"),  # no host
        ("mail.example.com", "must be imaps://"),
        ("imaps://bounces:pw@[::1/INBOX", "must be imaps://"),  # urlsplit's own ValueError
        ("imaps://bounces:pw@[mail.example.com]", "must be imaps://"),
        ("imaps://bounces:pw@mail.example.com:imap", "has a port that is not a number"),
        ("imaps://bounces:pw@mail.example.com:99999", "has a port that is not a number"),
    ],
)
def test_a_bad_bounce_mailbox_url_is_named(value: str, says: str) -> None:
    with environ(BOUNCE_MAILBOX_URL=value), pytest.raises(ConfigurationError) as error:
        read_mailbox_url("BOUNCE_MAILBOX_URL")

    assert str(error.value).startswith("BOUNCE_MAILBOX_URL ")
    assert says in str(error.value)
    assert "pw" not in str(error.value)  # a password never reaches a log


# --- DOMAIN_SEND_RATES ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, {}),
        ("gmail=40", {"gmail": 40.0}),
        (
            " Gmail = 40 , outlook=20.5,yahoo=0,other=100",
            {"gmail": 40.0, "outlook": 20.5, "yahoo": 0.0, "other": 100.0},
        ),
    ],
)
def test_the_domain_send_rates_are_parsed(value: str | None, parsed: dict[str, float]) -> None:
    with environ(DOMAIN_SEND_RATES=value):
        assert read_domain_rates("DOMAIN_SEND_RATES") == parsed


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("hotmail=20", "got 'hotmail=20'"),
        ("gmail", "comma-separated list of group=rate"),
        ("gmail=40,", "comma-separated list of group=rate"),
        ("gmail:40", "comma-separated list of group=rate"),
        ("gmail=fast", "the rate of gmail is not a number"),
        ("gmail=nan", "the rate of gmail is not a number"),
        ("yahoo=inf", "the rate of yahoo is not a number"),
        ("outlook=-1", "the rate of outlook must be 0 or more"),
    ],
)
def test_bad_domain_send_rates_are_named(value: str, says: str) -> None:
    with environ(DOMAIN_SEND_RATES=value), pytest.raises(ConfigurationError) as error:
        read_domain_rates("DOMAIN_SEND_RATES")

    assert str(error.value).startswith("DOMAIN_SEND_RATES")
    assert says in str(error.value)


# --- Whatever the value --------------------------------------------------------------------------

READERS: dict[str, Callable[[], Any]] = {
    "DKIM_DOMAIN": read_dkim,
    "BOUNCE_ADDRESS": lambda: read_bounce_address("BOUNCE_ADDRESS"),
    "BOUNCE_MAILBOX_URL": lambda: read_mailbox_url("BOUNCE_MAILBOX_URL"),
    "DOMAIN_SEND_RATES": lambda: read_domain_rates("DOMAIN_SEND_RATES"),
}
# What an environment variable can hold: any text but NUL (and lone surrogates).
env_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))


@given(name=st.sampled_from(sorted(READERS)), value=env_text)
@example(name="BOUNCE_MAILBOX_URL", value="imaps://u:p@[")
@example(name="DOMAIN_SEND_RATES", value="other=NaN")
def test_any_value_is_read_or_refused_with_a_message_naming_its_variable(
    name: str, value: str
) -> None:
    others = {other: None for other in DKIM_NAMES if other != name}
    with environ(**{**others, name: value}):
        try:
            READERS[name]()
        except ConfigurationError as error:
            refusal = str(error)
        else:
            return
    assert name in refusal


# --- In the settings -----------------------------------------------------------------------------


def test_production_settings_read_every_deliverability_variable(key_file: str) -> None:
    values = {
        "DKIM_DOMAIN": "news.example.com",
        "DKIM_SELECTOR": "nd1",
        "DKIM_PRIVATE_KEY_FILE": key_file,
        "BOUNCE_ADDRESS": "bounces@news.example.com",
        "BOUNCE_MAILBOX_URL": "pop3s://bounces:pw@pop.example.com",
        "DOMAIN_SEND_RATES": "gmail=40,yahoo=10",
    }
    shown = (
        "from django.conf import settings as s; print(s.DKIM_DOMAIN, s.DKIM_SELECTOR, "
        "s.BOUNCE_ADDRESS, s.BOUNCE_MAILBOX.port, sorted(s.DOMAIN_SEND_RATES.items()))"
    )

    result = python_run({**PRODUCTION, **values}, "manage.py", "shell", "-c", shown)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "news.example.com nd1 bounces@news.example.com 995 [('gmail', 40.0), ('yahoo', 10.0)]"
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"BOUNCE_ADDRESS": "bounces"}, "BOUNCE_ADDRESS must be a plain address"),
        ({"BOUNCE_MAILBOX_URL": "imap://u:p@mail.example.com"}, "BOUNCE_MAILBOX_URL must be"),
        ({"DOMAIN_SEND_RATES": "aol=5"}, "DOMAIN_SEND_RATES is a comma-separated list"),
        ({"DKIM_DOMAIN": "news.example.com"}, "DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE is not set"),
    ],
)
def test_a_bad_deliverability_variable_stops_start_up_with_one_line_naming_it(
    overrides: dict[str, str], named: str
) -> None:
    result = python_run({**PRODUCTION, **overrides}, "manage.py", "check")

    assert result.returncode != 0
    assert named in result.stderr
    assert "Traceback" not in result.stderr
