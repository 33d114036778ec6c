"""What is particular to each protocol and to TLS: untrusted certificates, IMAP folders and
messages flagged by a run that never expunged, the envelope read from headers."""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletters.inbound.mailbox import (
    MAX_ENVELOPE_RECIPIENTS,
    envelope_recipients_read,
    mailbox_fetch,
)
from tests.newsletters.inbound.conftest import BOUNCE_ADDRESS, EntryPoint
from tests.newsletters.inbound.dovecot import MailboxUser
from tests.newsletters.inbound.messages import dsn_make

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_a_certificate_nobody_trusts_stops_the_fetch_until_it_is_trusted(
    scheme: str,
    mailbox_user: MailboxUser,
    entry_point: EntryPoint,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org")
    mailbox_user.append(raw)
    settings.BOUNCE_MAILBOX = mailbox_user.config(scheme)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's authorities only

    report = mailbox_fetch()

    assert len(report.errors) == 1
    assert report.errors[0].startswith("cannot connect: its TLS certificate is not trusted (")
    assert entry_point.calls == []
    assert mailbox_user.messages() == [raw]

    # OpenSSL reads SSL_CERT_FILE for each new context: trusting the authority is enough.
    monkeypatch.setenv("SSL_CERT_FILE", str(mailbox_user.server.certificate.ca_file))
    report = mailbox_fetch()

    assert report.errors == []
    assert [call.raw for call in entry_point.calls] == [raw]


def test_an_imap_folder_that_does_not_exist_is_named(
    mailbox_user: MailboxUser, entry_point: EntryPoint, settings: Any, trusted_ca: Path
) -> None:
    settings.BOUNCE_MAILBOX = mailbox_user.config("imaps", folder="Bounces Here")

    report = mailbox_fetch()

    assert len(report.errors) == 1
    assert report.errors[0].startswith("folder 'Bounces Here' cannot be opened: ")


def test_imap_messages_applied_by_a_run_that_never_expunged_are_not_handed_over_again(
    mailbox_user: MailboxUser, entry_point: EntryPoint, settings: Any, trusted_ca: Path
) -> None:
    applied = dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org")
    waiting = dsn_make(to=BOUNCE_ADDRESS, failed="b@example.org")
    mailbox_user.append(applied)
    mailbox_user.append(waiting)
    config = mailbox_user.config("imaps")
    settings.BOUNCE_MAILBOX = config
    # An earlier run flagged the first message, then lost its connection before EXPUNGE.
    client = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=ssl.create_default_context())
    client.login(config.username, config.password)
    client.select("INBOX")
    client.store("1", "+FLAGS", r"(\Deleted)")
    client.shutdown()

    report = mailbox_fetch()

    assert [call.raw for call in entry_point.calls] == [waiting]
    assert report.left_count == 0
    assert mailbox_user.messages() == []


def test_the_envelope_is_read_from_the_headers_the_filing_mta_wrote() -> None:
    raw = (
        b"Delivered-To: Bounces+B1.2.3.AAAA@news.example.com\r\n"
        b"X-Original-To: bounces+b1.2.3.aaaa@news.example.com\r\n"
        b"Envelope-To: other@news.example.com, not-an-address\r\n"
        b"Delivered-To: bounces+b1.2.3.aaaa@news.example.com\r\n"
        b"Subject: x\r\n\r\nDelivered-To: in-the-body@example.org\r\n"
    )

    assert envelope_recipients_read(raw=raw) == [
        "Bounces+B1.2.3.AAAA@news.example.com",
        "bounces+b1.2.3.aaaa@news.example.com",
        "other@news.example.com",
    ]


@given(st.binary(max_size=2000))
def test_reading_the_envelope_of_any_bytes_never_raises(raw: bytes) -> None:
    found = envelope_recipients_read(raw=raw)

    assert len(found) <= MAX_ENVELOPE_RECIPIENTS
    assert all("@" in address for address in found)


@given(st.lists(st.text(max_size=80), max_size=30))
def test_reading_the_envelope_of_any_header_values_never_raises(values: list[str]) -> None:
    raw = "".join(f"Delivered-To: {value}\r\n" for value in values).encode("utf-8", "replace")

    found = envelope_recipients_read(raw=raw + b"\r\nbody\r\n")

    assert len(found) <= MAX_ENVELOPE_RECIPIENTS
