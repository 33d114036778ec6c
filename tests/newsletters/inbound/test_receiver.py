"""The bounce receiver over real sockets: LMTP answers per recipient, only our addresses are
accepted, each message reaches the entry point once, and the MTA is told to retry (451) when
the database cannot take it."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

import pytest
from django.db import OperationalError
from hypothesis import given
from hypothesis import strategies as st

from devtools.ports import free_port
from mailinglist.return_path import bounce_address
from newsletters.inbound import receiver as receiver_module
from newsletters.inbound.receiver import (
    Receiver,
    ReceiverError,
    receiver_start,
    recipient_is_accepted,
)
from tests.newsletters.inbound.conftest import BOUNCE_ADDRESS, EntryPoint
from tests.newsletters.inbound.messages import arf_make, dsn_make


def _lmtp(receiver: Receiver) -> smtplib.LMTP:
    client = smtplib.LMTP(receiver.host, receiver.port, timeout=10)
    code, _ = client.ehlo()  # smtplib.LMTP sends LHLO
    assert code == 250
    return client


def _verps() -> tuple[str, str]:
    return (
        bounce_address(subscriber_id=11, digest_id=5, list_id=2),
        bounce_address(subscriber_id=12, digest_id=5, list_id=2),
    )


def test_lmtp_answers_each_recipient_and_hands_the_message_over_once(
    lmtp_receiver: Receiver, entry_point: EntryPoint
) -> None:
    first, second = _verps()
    raw = dsn_make(to=first, failed="gone@example.org")
    client = _lmtp(lmtp_receiver)

    assert client.mail("")[0] == 250  # bounces come from the null sender
    assert client.rcpt(first)[0] == 250
    assert client.rcpt(second.upper())[0] == 250  # some servers upper-case local parts
    stranger = client.rcpt("editor@news.example.com")
    elsewhere = client.rcpt("bounces@elsewhere.example.org")
    code, text = client.data(raw)
    second_code, second_text = client.getreply()

    assert stranger[0] == 550 and stranger[1].startswith(b"5.1.1")
    assert elsewhere[0] == 550
    assert (code, second_code) == (250, 250)
    assert first.encode() in text
    assert second.upper().encode() in second_text
    assert len(entry_point.calls) == 1
    call = entry_point.calls[0]
    assert call.raw == raw
    assert call.envelope_recipients == [first, second.upper()]
    assert call.source == "lmtp"
    assert call.result.kind.encode() in text
    assert client.noop()[0] == 250  # in step: no reply left unread
    client.quit()


def test_plain_bounces_address_and_complaints_are_accepted(
    lmtp_receiver: Receiver, entry_point: EntryPoint
) -> None:
    first, _ = _verps()
    raw = arf_make(to=BOUNCE_ADDRESS, complainer="angry@example.org", return_path=first)
    client = _lmtp(lmtp_receiver)

    refused = client.sendmail("fbl@isp.example.net", [BOUNCE_ADDRESS.upper()], raw)

    assert refused == {}
    assert [call.envelope_recipients for call in entry_point.calls] == [[BOUNCE_ADDRESS.upper()]]
    client.quit()


def test_a_database_error_tells_the_mta_to_retry_for_every_recipient(
    lmtp_receiver: Receiver, entry_point: EntryPoint
) -> None:
    first, second = _verps()
    entry_point.fail_with = OperationalError("the database is restarting")
    client = _lmtp(lmtp_receiver)
    client.mail("")
    client.rcpt(first)
    client.rcpt(second)

    replies = [client.data(dsn_make(to=first, failed="a@example.org")), client.getreply()]

    assert [code for code, _ in replies] == [451, 451]
    assert all(text.startswith(b"4.3.0") for _, text in replies)
    assert entry_point.calls == []

    entry_point.fail_with = None
    client.mail("")
    client.rcpt(first)
    assert client.data(dsn_make(to=first, failed="a@example.org"))[0] == 250
    client.quit()


def test_an_unexpected_failure_also_keeps_the_message_queued(
    lmtp_receiver: Receiver, entry_point: EntryPoint
) -> None:
    first, _ = _verps()
    entry_point.fail_with = KeyError("a bug")
    client = _lmtp(lmtp_receiver)
    client.mail("")
    client.rcpt(first)

    assert client.data(dsn_make(to=first, failed="a@example.org"))[0] == 451
    client.quit()


def test_a_message_over_the_size_limit_is_refused_once_per_recipient(
    receiver_factory: Any, entry_point: EntryPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiver_module, "MAX_MESSAGE_BYTES", 2000)
    client = _lmtp(receiver_factory())
    first, second = _verps()

    assert client.esmtp_features["size"] == "2000"  # announced, so an MTA checks it first
    client.mail("")
    client.rcpt(first)
    client.rcpt(second)
    replies = [client.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 50), client.getreply()]

    assert [code for code, _ in replies] == [552, 552]
    assert entry_point.calls == []
    assert client.noop()[0] == 250
    client.quit()


def test_malformed_input_gets_answers_and_never_stops_the_server(
    lmtp_receiver: Receiver, entry_point: EntryPoint
) -> None:
    first, _ = _verps()
    client = _lmtp(lmtp_receiver)
    assert client.docmd("XYZZY")[0] == 500
    assert client.docmd("HELO", "old.example")[0] == 500  # LMTP has no HELO
    assert client.docmd("RCPT", "TO:<nobody>")[0] == 503  # no MAIL yet
    assert client.docmd("MAIL", "FROM:<<<>")[0] == 553
    garbage = b"\x00\xff\xfe no headers at all \r\n\xc3\x28 \r\n..leading dots\r\n"
    client.mail("")
    client.rcpt(first)

    assert client.data(garbage)[0] == 250
    assert entry_point.calls[-1].raw == garbage
    client.quit()

    # A sender that hangs up in the middle of DATA.
    with socket.create_connection((lmtp_receiver.host, lmtp_receiver.port), timeout=10) as raw:
        raw.recv(1024)
        raw.sendall(f"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<{first}>\r\nDATA\r\n".encode())
        raw.sendall(b"Subject: half\r\n\r\nhalf a mess")
    client = _lmtp(lmtp_receiver)
    assert client.sendmail("", [first], dsn_make(to=first, failed="b@example.org")) == {}
    assert len(entry_point.calls) == 2
    client.quit()


def test_smtp_mode_answers_once_and_refuses_other_addresses(
    receiver_factory: Any, entry_point: EntryPoint
) -> None:
    receiver: Receiver = receiver_factory(is_smtp=True)
    first, _ = _verps()
    raw = dsn_make(to=first, failed="gone@example.org")
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client:
        refused = client.sendmail("", [first, "someone@news.example.com"], raw)
        entry_point.fail_with = OperationalError("down")
        with pytest.raises(smtplib.SMTPDataError) as retry:
            client.sendmail("", [first], raw)

    assert list(refused) == ["someone@news.example.com"]
    assert refused["someone@news.example.com"][0] == 550
    assert retry.value.smtp_code == 451
    assert [(call.raw, call.envelope_recipients, call.source) for call in entry_point.calls] == [
        (raw, [first], "smtp")
    ]


def test_the_receiver_needs_a_bounce_address(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = ""

    with pytest.raises(ReceiverError, match="BOUNCE_ADDRESS is not set"):
        receiver_start(port=free_port())


def test_a_port_in_use_is_a_clear_error(receiver_factory: Any) -> None:
    busy: Receiver = receiver_factory()

    with pytest.raises(ReceiverError, match=f"cannot listen on 127.0.0.1:{busy.port}: "):
        receiver_start(host="127.0.0.1", port=busy.port)


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("bounces@news.example.com", True),
        ("<BOUNCES+b1.2.3.abc@News.Example.com>", True),
        ("bounces+anything+more@news.example.com", True),
        ("bounces@news.example.com.evil.example", False),
        ("bouncesx@news.example.com", False),
        ("bounces", False),
        ("", False),
        ("someone+bounces@news.example.com", False),
    ],
)
def test_which_recipients_are_ours(address: str, accepted: bool) -> None:
    assert recipient_is_accepted(address=address, bounce_address=BOUNCE_ADDRESS) is accepted


@given(st.text(max_size=200))
def test_any_recipient_text_gets_an_answer(address: str) -> None:
    assert recipient_is_accepted(address=address, bounce_address=BOUNCE_ADDRESS) in (True, False)
