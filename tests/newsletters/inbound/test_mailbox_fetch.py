"""The mailbox poller against a real dovecot, over IMAP and over POP3 (each test runs twice):
every message reaches the entry point once and leaves the mailbox only after it was applied."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import OperationalError

from mailinglist.return_path import bounce_address
from newsletters.inbound import mailbox
from newsletters.inbound.mailbox import mailbox_fetch
from tests.newsletters.inbound.conftest import BOUNCE_ADDRESS, EntryPoint
from tests.newsletters.inbound.dovecot import MailboxUser
from tests.newsletters.inbound.messages import arf_make, dsn_make

pytestmark = pytest.mark.django_db


def _three(mailbox_user: MailboxUser) -> list[bytes]:
    """A signed hard bounce (filed with Delivered-To), a complaint, and a forged bounce."""
    verp = bounce_address(subscriber_id=7, digest_id=3, list_id=2)
    forged = verp[:-20] + "aaaaaaaaaaaaaaaa@news.example.com"
    sent = [
        dsn_make(to=verp, failed="gone@example.org", delivered_to=verp),
        arf_make(to=BOUNCE_ADDRESS, complainer="angry@example.org", return_path=verp),
        dsn_make(to=forged, failed="victim@example.org"),
    ]
    for raw in sent:
        mailbox_user.append(raw)
    return sent


def test_each_message_is_handed_over_once_and_removed(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    sent = _three(bounce_mailbox)

    report = mailbox_fetch()

    assert sorted(call.raw for call in entry_point.calls) == sorted(sent)
    assert report.handed_count == 3
    assert report.removed_count == 3
    assert report.left_count == 0
    assert report.errors == []
    assert dict(report.kinds) == entry_point.kinds
    assert bounce_mailbox.messages() == []
    scheme = "imap" if report.mailbox.startswith("imaps://") else "pop3"
    assert {call.source for call in entry_point.calls} == {scheme}
    filed = next(call for call in entry_point.calls if call.raw == sent[0])
    assert filed.envelope_recipients == [bounce_address(subscriber_id=7, digest_id=3, list_id=2)]
    assert [call.envelope_recipients for call in entry_point.calls if call.raw != sent[0]] == [
        [],
        [],
    ]

    again = mailbox_fetch()

    assert again.handed_count == 0
    assert again.errors == []
    assert len(entry_point.calls) == 3


def test_a_database_error_keeps_that_message_and_the_rest_for_the_next_run(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    sent = _three(bounce_mailbox)
    entry_point.fail_with = OperationalError("could not connect to server")
    entry_point.fail_on = b"angry@example.org"

    report = mailbox_fetch()

    handed = [call.raw for call in entry_point.calls]
    assert sent[1] not in handed
    assert len(report.errors) == 1
    assert "database error" in report.errors[0]
    assert report.handed_count == len(handed) == report.removed_count
    kept = bounce_mailbox.messages()
    assert sorted(kept + handed) == sorted(sent)
    assert sent[1] in kept
    assert report.left_count == len(kept)

    entry_point.fail_with = None
    report = mailbox_fetch()

    assert report.errors == []
    assert sorted(call.raw for call in entry_point.calls) == sorted(sent)
    assert bounce_mailbox.messages() == []


def test_an_unexpected_failure_keeps_that_message_and_lets_the_others_through(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint, caplog: pytest.LogCaptureFixture
) -> None:
    sent = _three(bounce_mailbox)
    entry_point.fail_with = KeyError("a bug")
    entry_point.fail_on = b"angry@example.org"

    report = mailbox_fetch()

    assert report.failed_count == 1
    assert report.handed_count == 2
    assert sorted(call.raw for call in entry_point.calls) == sorted([sent[0], sent[2]])
    assert bounce_mailbox.messages() == [sent[1]]
    assert any(record.exc_info for record in caplog.records)  # a bug shows its traceback


def test_at_most_limit_messages_per_run(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    sent = _three(bounce_mailbox)

    first = mailbox_fetch(limit=2)
    second = mailbox_fetch(limit=2)

    assert (first.handed_count, first.left_count) == (2, 1)
    assert (second.handed_count, second.left_count) == (1, 0)
    assert sorted(call.raw for call in entry_point.calls) == sorted(sent)


def test_a_message_over_the_size_limit_stays_for_a_person(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org")
    big = dsn_make(to=BOUNCE_ADDRESS, failed="b@example.org") + b"x" * 5000 + b"\r\n"
    bounce_mailbox.append(small)
    bounce_mailbox.append(big)
    monkeypatch.setattr(mailbox, "MAX_MESSAGE_BYTES", len(small) + 1000)

    report = mailbox_fetch()

    assert [call.raw for call in entry_point.calls] == [small]
    assert (report.too_big_count, report.left_count) == (1, 1)
    assert bounce_mailbox.messages() == [big]
    assert "1 over" in report.summary()


def test_lines_longer_than_the_rfc_allows_come_through_whole(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    # Some servers quote an original's HTML on one line; poplib alone stops at 2048 bytes.
    raw = dsn_make(to=BOUNCE_ADDRESS, failed="a@example.org").replace(
        b"The stories of the day.", b"<p>" + b"story " * 2000 + b"</p>"
    )
    bounce_mailbox.append(raw)

    report = mailbox_fetch()

    assert report.errors == []
    assert [call.raw for call in entry_point.calls] == [raw]
    assert bounce_mailbox.messages() == []


def test_another_fetch_running_elsewhere_means_nothing_is_done(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint
) -> None:
    from operations.redis_client import redis_client

    _three(bounce_mailbox)
    redis_client().set(mailbox.LOCK_KEY, "another host", ex=60)

    report = mailbox_fetch()

    assert report.is_busy
    assert entry_point.calls == []
    assert len(bounce_mailbox.messages()) == 3
    assert "another fetch is running" in report.summary()


def test_a_wrong_password_is_one_clear_line_and_nothing_is_lost(
    bounce_mailbox: MailboxUser,
    entry_point: EntryPoint,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _three(bounce_mailbox)
    good = settings.BOUNCE_MAILBOX
    settings.BOUNCE_MAILBOX = bounce_mailbox.config(good.scheme, password="not-the-password")

    with caplog.at_level(logging.WARNING, logger="newsletters.inbound.mailbox"):
        report = mailbox_fetch()

    assert len(report.errors) == 1
    assert report.errors[0].startswith("login refused: ")
    assert "nothing fetched" in report.errors[0]
    assert "not-the-password" not in report.summary()
    assert "\n" not in report.summary()
    assert entry_point.calls == []
    assert len(bounce_mailbox.messages()) == 3
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.exc_info for record in warnings] == [None]
    assert "login refused" in warnings[0].getMessage()


def test_a_mailbox_nobody_answers_at_is_one_clear_line(
    bounce_mailbox: MailboxUser, entry_point: EntryPoint, settings: Any
) -> None:
    from devtools.ports import free_port

    good = settings.BOUNCE_MAILBOX
    settings.BOUNCE_MAILBOX = type(good)(**{**vars(good), "port": free_port()})

    report = mailbox_fetch()

    assert report.errors == ["cannot connect: Connection refused; nothing fetched"]
    assert entry_point.calls == []


def test_a_connection_lost_mid_run_loses_nothing(
    bounce_mailbox: MailboxUser,
    entry_point: EntryPoint,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    from newsletters.inbound import mailbox_protocols

    sent = _three(bounce_mailbox)
    fetched: list[str] = []
    cutting = True

    def cut_before_the_second(original: Any) -> Any:
        def fetch(self: Any, message_id: str) -> bytes | None:
            fetched.append(message_id)
            if len(fetched) == 2 and cutting:  # the server goes away between two messages
                self.client.sock.shutdown(socket.SHUT_RDWR)
            result: bytes | None = original(self, message_id)
            return result

        return fetch

    for session in (mailbox_protocols.ImapSession, mailbox_protocols.Pop3Session):
        monkeypatch.setattr(session, "fetch", cut_before_the_second(session.fetch))

    report = mailbox_fetch()

    assert len(report.errors) == 1
    assert report.errors[0].startswith("fetching stopped (")
    assert report.handed_count == 1
    assert not any(record.exc_info for record in caplog.records)

    cutting = False
    mailbox_fetch()

    # Handed over at least once each (POP3 forgets the DELE of a session without QUIT, so the
    # first comes again, as a duplicate the entry point recognises), and all gone now.
    assert set(call.raw for call in entry_point.calls) == set(sent)
    assert bounce_mailbox.messages() == []
