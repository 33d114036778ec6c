"""Fixtures of the inbound tests: return paths switched on (BOUNCE_ADDRESS) for every test, a
private dovecot with a fresh mailbox per test (IMAP and POP3), the bounce receiver on a free port,
and a recorder of what reaches the entry point."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.ports import free_port
from newsletters.inbound import process
from newsletters.inbound.mailbox import LOCK_KEY
from newsletters.inbound.receiver import Receiver, receiver_start
from operations.redis_client import redis_client
from tests.newsletters.inbound.dovecot import (
    DOVECOT,
    INSTALL_HINT,
    Dovecot,
    MailboxUser,
    dovecot_running,
)
from tests.newsletters.inbound.samples import BOUNCE_ADDRESS as SAMPLES_BOUNCE_ADDRESS

BOUNCE_ADDRESS = "bounces@news.example.com"


@pytest.fixture(autouse=True)
def _return_paths(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = SAMPLES_BOUNCE_ADDRESS
    settings.BOUNCE_SOFT_LIMIT = 3
    settings.BOUNCE_SOFT_WINDOW_DAYS = 14


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """The session's private dovecot (IMAPS and POP3S on free loopback ports)."""
    if not DOVECOT.exists():
        pytest.skip(INSTALL_HINT)
    with dovecot_running() as server:
        yield server


@pytest.fixture
def trusted_ca(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The private dovecot's certificate authority is the one OpenSSL trusts for this test."""
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate.ca_file))
    return dovecot.certificate.ca_file


@pytest.fixture
def mailbox_user(dovecot: Dovecot) -> MailboxUser:
    """A fresh, empty mailbox: `append(raw)` puts mail in, `config()` is its BOUNCE_MAILBOX."""
    return dovecot.user_add()


@pytest.fixture(params=["imaps", "pop3s"])
def bounce_mailbox(
    request: pytest.FixtureRequest, mailbox_user: MailboxUser, trusted_ca: Path, settings: Any
) -> MailboxUser:
    """BOUNCE_MAILBOX is a fresh mailbox on the private dovecot, over IMAP and then POP3."""
    settings.BOUNCE_MAILBOX = mailbox_user.config(request.param)
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS
    return mailbox_user


@pytest.fixture(autouse=True)
def _no_fetch_lock() -> Iterator[None]:
    """No fetch lock left in Redis by an interrupted run."""
    redis_client().delete(LOCK_KEY)
    yield
    redis_client().delete(LOCK_KEY)


@dataclass(frozen=True)
class Call:
    raw: bytes
    envelope_recipients: list[str]
    source: str
    result: process.InboundResult


@dataclass
class EntryPoint:
    """Every call that reached the entry point, with what it answered."""

    calls: list[Call] = field(default_factory=list)
    fail_with: Exception | None = None  # raised (instead of processing) while set
    fail_on: bytes = b""  # only for a message containing this (all when empty)

    @property
    def kinds(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for call in self.calls:
            found[call.result.kind] = found.get(call.result.kind, 0) + 1
        return found


@pytest.fixture
def entry_point(monkeypatch: pytest.MonkeyPatch) -> EntryPoint:
    """The real entry point, recorded (and made to fail on demand)."""
    real = process.inbound_message_process
    recorder = EntryPoint()

    def recording(
        *, raw: bytes, envelope_recipients: Sequence[str] = (), source: str
    ) -> process.InboundResult:
        if recorder.fail_with is not None and recorder.fail_on in raw:
            raise recorder.fail_with
        result = real(raw=raw, envelope_recipients=envelope_recipients, source=source)
        recorder.calls.append(Call(raw, list(envelope_recipients), source, result))
        return result

    monkeypatch.setattr(process, "inbound_message_process", recording)
    return recorder


@pytest.fixture
def receiver_factory(settings: Any, transactional_db: None) -> Iterator[Any]:
    """Starts the bounce receiver (LMTP, or SMTP with is_smtp=True) on a free port, for
    BOUNCE_ADDRESS; each is stopped at the end of the test."""
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS
    started: list[Receiver] = []

    def start(*, is_smtp: bool = False) -> Receiver:
        receiver = receiver_start(host="127.0.0.1", port=free_port(), is_smtp=is_smtp)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def lmtp_receiver(receiver_factory: Any) -> Receiver:
    """`manage.py bounces_serve`'s LMTP server on a free port (the database is committed)."""
    receiver: Receiver = receiver_factory()
    return receiver
