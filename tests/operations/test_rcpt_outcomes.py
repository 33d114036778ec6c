"""A 421 or 4.7.x answered to one recipient is its domain's slow-down; elsewhere, the server's.

Against the recording sink (real SMTP), one command at a time and pipelined.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.smtp_sink import DOMAIN_SLOW_DOWN_REPLY, SmtpSink
from operations import transport
from operations.transport.outcomes import rcpt_outcome, reply_outcome
from tests.mail_transport import transport_to

RAW = b"From: news@example.com\r\nTo: reader\r\nSubject: hi\r\n\r\nHello.\r\n"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (421, "4.7.0 Try again later"),
        (421, "Service busy"),  # a 421 without an enhanced status
        (451, "4.7.1 Please try again later"),
        (450, "4.7.28 Unusual rate of mail"),
        (451, "4.7.500 Server busy. Please try again later"),
    ],
)
def test_a_slow_down_at_rcpt_concerns_the_domain_not_the_server(code: int, text: str) -> None:
    outcome = rcpt_outcome(code, text)
    assert outcome.domain_slow_down
    assert not (outcome.ok or outcome.halt or outcome.slow_down or outcome.permanent)
    assert outcome.error == f"{code} {text}"


@pytest.mark.parametrize(
    ("code", "text", "bounce"),
    [
        (451, "4.3.0 Try again later", False),  # greylisting: one mailbox, retried as before
        (452, "4.2.2 Mailbox full", False),
        (450, "4.2.1 Mailbox busy", False),
        (550, "5.1.1 No such user", True),
        (550, "5.7.1 Refused by policy", True),  # failure_kinds.py tells policy from bounce
        (554, "4.7.0 odd but permanent", False),
    ],
)
def test_other_rcpt_refusals_are_what_they_were(code: int, text: str, bounce: bool) -> None:
    outcome = rcpt_outcome(code, text)
    assert not outcome.domain_slow_down
    assert outcome == reply_outcome(code, text, bounce=bounce)


def test_a_421_after_data_still_halts_the_server() -> None:
    outcome = reply_outcome(421, "4.7.0 closing connection")
    assert outcome.halt and outcome.slow_down and not outcome.domain_slow_down


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def sink(request: pytest.FixtureRequest, db: None) -> Iterator[SmtpSink]:
    # `db`: the transport reads the DKIM keys (none here) from the database before it sends.
    server = SmtpSink(pipelining=request.param)
    server.start()
    with transport_to(server.port):
        yield server
    server.stop()


def _send(to: str) -> transport.Outcome:
    return transport.message_send(from_address="news@example.com", to=to, raw=RAW)


def test_the_sink_refuses_a_domain_at_rcpt_and_the_transport_says_whose_slow_down(
    sink: SmtpSink,
) -> None:
    sink.refuse_domains(["gmail.com", "GoogleMail.com"])

    refused, other, refused_too = (
        _send("ann@gmail.com"),
        _send("bob@example.com"),
        _send("cat@googlemail.com"),
    )

    assert refused.domain_slow_down and refused_too.domain_slow_down
    assert refused.error == DOMAIN_SLOW_DOWN_REPLY and not refused.halt
    assert other.ok  # the same connection carried on after the refusal
    assert [r.rcpt_tos for r in sink.received] == [["bob@example.com"]]
    assert sink.domain_refused == 2

    sink.accept_domains()
    assert _send("ann@gmail.com").ok
    assert sink.domain_refused == 2 and sink.accepted == 2
    assert sink.received[0].at <= sink.received[1].at  # receive times, for rate assertions


def test_a_provider_that_hangs_up_after_its_421_is_asked_once_and_the_next_reader_goes(
    sink: SmtpSink,
) -> None:
    sink.refuse_domains(["gmail.com"], close=True)

    refused, other = _send("ann@gmail.com"), _send("bob@example.com")

    assert refused.domain_slow_down and not refused.halt
    assert sink.domain_refused == 1  # not asked again on a new connection as if it were lost
    assert other.ok and [r.rcpt_tos for r in sink.received] == [["bob@example.com"]]


def test_the_sink_refuses_with_any_reply_a_test_names(sink: SmtpSink) -> None:
    sink.refuse_domains(["outlook.com"], reply="451 4.7.500 Server busy")
    outcome = _send("dan@outlook.com")
    assert outcome.domain_slow_down and outcome.code == 451
    with pytest.raises(ValueError, match="4xx or 5xx"):
        sink.refuse_domains(["outlook.com"], reply="250 fine")


def test_a_421_to_mail_from_is_still_the_servers_halt(sink: SmtpSink) -> None:
    sink.sender_reply = "421 4.7.0 Too many connections from your host"
    outcome = _send("ann@gmail.com")
    assert outcome.halt and not outcome.domain_slow_down
