"""The next message's envelope goes out with this message's content, and never becomes a message
of its own: against the recording sink (aiosmtpd, real SMTP with PIPELINING)."""

from __future__ import annotations

import pytest

from devtools.smtp_sink import PERM_FAIL_REPLY, SmtpSink
from operations import transport
from operations.transport import smtp
from tests.polling import wait_until

SENDER = "news@example.com"


def _raw(to: str) -> bytes:
    return f"From: {SENDER}\r\nTo: {to}\r\nSubject: hi\r\n\r\nHello {to}.\r\n".encode()


@pytest.fixture
def sink(pipelining_sink: SmtpSink) -> SmtpSink:
    return pipelining_sink


def _send(to: str, then: str | None = None) -> transport.Outcome:
    return transport.message_send(
        from_address=SENDER, to=to, raw=_raw(to), then=None if then is None else (SENDER, then)
    )


def _delivered(sink: SmtpSink) -> list[str]:
    return [rcpt for message in sink.received for rcpt in message.rcpt_tos]


def test_the_next_envelope_is_asked_for_before_its_message_is_sent(sink: SmtpSink) -> None:
    assert _send("ann@example.com", then="bob@example.com").ok

    # The server has seen bob's RCPT TO already, but has no message for him yet.
    assert list(sink.attempts) == ["ann@example.com", "bob@example.com"]
    assert _delivered(sink) == ["ann@example.com"]

    assert _send("bob@example.com", then="cat@example.com").ok
    assert _send("cat@example.com").ok
    assert _delivered(sink) == ["ann@example.com", "bob@example.com", "cat@example.com"]
    # Each address was asked once: the opened envelopes were used, not sent again.
    assert {address: len(times) for address, times in sink.attempts.items()} == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert sink.received[1].raw.endswith(b"Hello bob@example.com.\r\n")


def test_an_abandoned_envelope_delivers_nothing_and_the_next_send_reconnects(
    sink: SmtpSink,
) -> None:
    assert _send("ann@example.com", then="bob@example.com").ok
    transport.pipeline_abandon()
    assert smtp._smtp.connection is None  # closed: content is the only other way out of DATA
    transport.pipeline_abandon()  # nothing open: nothing to do
    assert _send("cat@example.com").ok

    wait_until(lambda: len(sink.received) == 2, timeout=5)
    assert _delivered(sink) == ["ann@example.com", "cat@example.com"]  # no empty one for bob


def test_a_send_for_another_reader_than_the_one_opened_ends_the_open_one(sink: SmtpSink) -> None:
    assert _send("ann@example.com", then="bob@example.com").ok
    assert _send("cat@example.com").ok  # a transactional mail in between, say

    assert _delivered(sink) == ["ann@example.com", "cat@example.com"]
    assert _send("bob@example.com").ok
    assert _delivered(sink) == ["ann@example.com", "cat@example.com", "bob@example.com"]
    assert all(message.raw.strip() for message in sink.received)


def test_a_refusal_of_the_opened_recipient_is_that_message_s_outcome(sink: SmtpSink) -> None:
    sink.refuse_domains(["gone.example"], reply=PERM_FAIL_REPLY)

    assert _send("ann@example.com", then="x@gone.example").ok
    refused = _send("x@gone.example", then="bob@example.com")
    assert refused.permanent and not refused.ok and not refused.halt
    assert _send("bob@example.com").ok  # the connection carried on after the refusal

    assert _delivered(sink) == ["ann@example.com", "bob@example.com"]


def test_a_provider_hanging_up_after_a_421_to_the_opened_recipient(sink: SmtpSink) -> None:
    sink.refuse_domains(["gmail.com"], close=True)

    assert _send("ann@example.com", then="dan@gmail.com").ok  # its own outcome stands
    slowed = _send("dan@gmail.com", then="bob@example.com")
    assert slowed.domain_slow_down and not slowed.halt
    assert _send("bob@example.com").ok  # on a new connection

    assert _delivered(sink) == ["ann@example.com", "bob@example.com"]
    assert sink.domain_refused == 1
