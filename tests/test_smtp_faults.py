"""The fault-injecting SMTP sink behaves as documented, seen through plain smtplib clients."""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from itertools import pairwise

import pytest

from devtools.smtp_sink import SmtpSink

SENDER = "news@example.com"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


def _message(address: str, n: int = 0) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = address
    message["Subject"] = f"Issue {n}"
    message["Message-ID"] = f"<{n}.{address}>"
    message.set_content(f"Hello {address}, this is message {n}.")
    return message.as_bytes()


def _connect(sink: SmtpSink) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", sink.port, timeout=10)


class _Client:
    """Delivers one message at a time the way the engine should: 451 and a dropped
    connection are retried (reconnecting after a drop), 550 is final."""

    def __init__(self, sink: SmtpSink, max_tries: int = 10) -> None:
        self.sink = sink
        self.max_tries = max_tries
        self.connections = 0
        self._smtp: smtplib.SMTP | None = None

    def deliver(self, address: str, n: int = 0) -> str:
        for _ in range(self.max_tries):
            if self._smtp is None:
                self._smtp = _connect(self.sink)
                self.connections += 1
            try:
                self._smtp.sendmail(SENDER, [address], _message(address, n))
                return "sent"
            except smtplib.SMTPRecipientsRefused as refused:
                if refused.recipients[address][0] >= 500:
                    return "bounced"
            except smtplib.SMTPServerDisconnected:
                # smtplib already closed the socket; the next try opens a new connection.
                self._smtp = None
        return "gave up"

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.quit()


def _expected_drops(sink: SmtpSink, address: str) -> int:
    """How many DATAs for this single-recipient message the sink will drop before a 250."""
    if sink.will_perm_fail(address):
        return 0
    drops = 0
    while sink.will_drop([address], drops + 1):
        drops += 1
    return drops


def test_451_on_the_first_attempt_then_250(sink: SmtpSink) -> None:
    sink.set_faults(temp_fail_first_fraction=1.0)
    address = "later@example.org"
    assert sink.will_temp_fail_first(address)
    with _connect(sink) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, [address], _message(address))
        assert refused.value.recipients == {address: (451, b"4.3.0 Try again later")}
        # Same connection, same address: the second attempt is accepted.
        assert client.sendmail(SENDER, [address], _message(address)) == {}
    assert [r.rcpt_tos for r in sink.wait_for(1)] == [[address]]
    assert (sink.temp_failed, sink.accepted, sink.perm_failed, sink.dropped) == (1, 1, 0, 0)
    assert len(sink.attempts[address]) == 2


def test_550_on_every_attempt_even_where_451_was_due(sink: SmtpSink) -> None:
    sink.set_faults(perm_fail_fraction=1.0, temp_fail_first_fraction=1.0)
    address = "nobody@example.org"
    assert sink.will_perm_fail(address)
    assert not sink.will_temp_fail_first(address)
    with _connect(sink) as client:
        for _ in range(3):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.sendmail(SENDER, [address], _message(address))
            assert refused.value.recipients[address] == (550, b"5.1.1 No such user")
    assert sink.received == []
    assert (sink.perm_failed, sink.temp_failed, sink.accepted) == (3, 0, 0)


def test_a_message_to_several_recipients_reports_the_refusals_per_recipient(
    sink: SmtpSink,
) -> None:
    sink.set_faults(perm_fail_fraction=0.5, seed=3)
    addresses = [f"user{i}@example.org" for i in range(10)]
    bad = {a for a in addresses if sink.will_perm_fail(a)}
    assert bad and len(bad) < len(addresses), "seed 3 should split the addresses"
    with _connect(sink) as client:
        refused = client.sendmail(SENDER, addresses, _message("list@example.org"))
    assert refused == {a: (550, b"5.1.1 No such user") for a in bad}
    [received] = sink.wait_for(1)
    assert received.rcpt_tos == [a for a in addresses if a not in bad]


def test_a_dropped_connection_raises_server_disconnected(sink: SmtpSink) -> None:
    sink.set_faults(drop_fraction=1.0)
    address = "maybe@example.org"
    client = _connect(sink)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail(SENDER, [address], _message(address))
    # The sink got the whole message but never said so: a retry may be a duplicate.
    assert [r.message["To"] for r in sink.dropped_after_data] == [address]
    assert (sink.dropped, sink.accepted) == (1, 0)
    assert sink.received == []

    sink.set_faults(drop_fraction=0.0)
    with _connect(sink) as again:
        assert again.sendmail(SENDER, [address], _message(address)) == {}
    assert len(sink.wait_for(1)) == 1


def test_growing_gaps_between_retries_are_visible_in_attempts(sink: SmtpSink) -> None:
    sink.set_faults(temp_fail_first_fraction=1.0, temp_fail_attempts=3)
    address = "slow@example.org"
    delays = [0.05, 0.1, 0.2]
    outcomes = []
    with _connect(sink) as client:
        for attempt in range(4):
            try:
                client.sendmail(SENDER, [address], _message(address))
                outcomes.append(250)
                break
            except smtplib.SMTPRecipientsRefused as refused:
                outcomes.append(refused.recipients[address][0])
            time.sleep(delays[attempt])
    assert outcomes == [451, 451, 451, 250]
    times = sink.attempts[address]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    # Each gap is at least the pause before it: lower bounds only, since a busy machine can
    # stretch any gap (an upper bound or a strict ordering would test the machine's load).
    assert len(gaps) == 3
    assert all(gap >= pause for gap, pause in zip(gaps, delays, strict=True))


def test_counters_and_predicates_agree_over_500_addresses(sink: SmtpSink) -> None:
    sink.set_faults(
        temp_fail_first_fraction=0.10, perm_fail_fraction=0.02, drop_fraction=0.01, seed=7
    )
    addresses = [f"reader{i}@example.net" for i in range(500)]
    perm = {a for a in addresses if sink.will_perm_fail(a)}
    temp = {a for a in addresses if sink.will_temp_fail_first(a)}
    drops = {a: _expected_drops(sink, a) for a in addresses}
    # The hash spreads addresses roughly as asked (deterministic for this seed).
    assert 3 <= len(perm) <= 25
    assert 25 <= len(temp) <= 80
    assert 1 <= sum(drops.values()) <= 15

    # A fresh connection per message, as independent workers would do.
    outcomes = {}
    for address in addresses:
        client = _Client(sink)
        outcomes[address] = client.deliver(address)
        client.close()

    assert {a for a, o in outcomes.items() if o == "bounced"} == perm
    assert all(o == "sent" for a, o in outcomes.items() if a not in perm)
    assert sink.perm_failed == len(perm)
    assert sink.temp_failed == len(temp)
    assert sink.dropped == sum(drops.values())
    assert sink.accepted == len(addresses) - len(perm)
    assert sorted(r.rcpt_tos[0] for r in sink.wait_for(sink.accepted)) == sorted(
        set(addresses) - perm
    )
    dropped = [r.rcpt_tos[0] for r in sink.dropped_after_data]
    assert sorted(dropped) == sorted(a for a, n in drops.items() for _ in range(n))
    # Every address was tried once, plus once per 451, plus once per drop.
    attempts = sink.attempts
    for address in addresses:
        expected = 1 if address in perm else 1 + (address in temp) + drops[address]
        assert len(attempts[address]) == expected, address


def test_one_connection_carries_many_messages_and_reconnects_after_a_drop(
    sink: SmtpSink,
) -> None:
    sink.set_faults(
        temp_fail_first_fraction=0.10, perm_fail_fraction=0.02, drop_fraction=0.05, seed=11
    )
    addresses = [f"member{i}@example.com" for i in range(100)]
    perm = {a for a in addresses if sink.will_perm_fail(a)}
    expected_drops = sum(_expected_drops(sink, a) for a in addresses)
    assert expected_drops >= 1, "seed 11 should drop at least one connection"

    client = _Client(sink)
    outcomes = [client.deliver(address, n) for n, address in enumerate(addresses)]
    client.close()

    assert outcomes.count("sent") == len(addresses) - len(perm)
    assert outcomes.count("bounced") == len(perm)
    # One connection for everything except the reconnects forced by drops.
    assert client.connections == 1 + expected_drops
    assert sink.dropped == expected_drops
    received = sink.wait_for(len(addresses) - len(perm))
    subjects = [r.message["Subject"] for r in received]
    assert subjects == [f"Issue {n}" for n, a in enumerate(addresses) if a not in perm]


def test_faults_do_not_depend_on_arrival_order(sink: SmtpSink) -> None:
    """Concurrent workers interleave arbitrarily, yet the outcome is the predicted one."""
    sink.set_faults(
        temp_fail_first_fraction=0.2, perm_fail_fraction=0.05, drop_fraction=0.05, seed=5
    )
    addresses = [f"c{i}@example.org" for i in range(200)]
    outcomes: dict[str, str] = {}

    def worker(share: list[str]) -> None:
        client = _Client(sink)
        for address in share:
            outcomes[address] = client.deliver(address)
        client.close()

    threads = [threading.Thread(target=worker, args=(addresses[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    perm = {a for a in addresses if sink.will_perm_fail(a)}
    assert {a for a, o in outcomes.items() if o == "bounced"} == perm
    assert len(outcomes) == len(addresses)
    assert sink.dropped == sum(_expected_drops(sink, a) for a in addresses)
    assert sink.temp_failed == sum(sink.will_temp_fail_first(a) for a in addresses)


def test_clear_forgets_history_but_keeps_the_faults(sink: SmtpSink) -> None:
    sink.set_faults(temp_fail_first_fraction=1.0)
    address = "again@example.org"
    client = _Client(sink)
    assert client.deliver(address) == "sent"
    assert sink.temp_failed == 1
    sink.clear()
    assert (sink.accepted, sink.temp_failed, sink.received, sink.attempts) == (0, 0, [], {})
    # History is gone, so this is again the address's first attempt, and it gets 451.
    assert client.deliver(address, 1) == "sent"
    client.close()
    assert (sink.temp_failed, sink.accepted) == (1, 1)


def test_fractions_outside_zero_to_one_are_refused(sink: SmtpSink) -> None:
    with pytest.raises(ValueError, match="within"):
        sink.set_faults(drop_fraction=1.5)
