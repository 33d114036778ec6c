"""The recording sink: an aiosmtpd server on a free loopback port that keeps what it accepts.

It is also the fault-injecting sink: given a `Faults` script (faults.py) it refuses recipients,
senders or hangs up after DATA; without one it is a well-behaved server. One class for both,
because a test asserts on the same things either way (parsed messages, envelopes, attempts).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devtools.ports import free_port
from devtools.smtp_sink.faults import PERM_FAIL_REPLY, Faults, envelope_key

# What a mailbox provider says at RCPT TO when mail from us comes too fast.
DOMAIN_SLOW_DOWN_REPLY = "421 4.7.0 Try again later"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = 0.0  # time.monotonic() when it was accepted (or dropped)

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.pipelining:  # RFC 2920: the client may send MAIL, RCPT and DATA at once
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sink.sender_reply:
            return self.sink.sender_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.sink._rcpt_reply(address)
        if reply is not None and self.sink._closes_after(address):
            # Once the reply is written (the hook returns straight into its write), as a
            # provider does after "421 ... closing connection".
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
        if reply is None:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return "250 OK"
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.mail_from, str)
        assert isinstance(envelope.original_content, bytes)
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=envelope.original_content,
            at=time.monotonic(),
        )
        if not self.sink._data_accepted(received):
            assert server.transport is not None
            server.transport.close()
            # Never return: connection_lost() cancels this coroutine, so no reply is written
            # to the closed transport and aiosmtpd logs no spurious error.
            await asyncio.get_running_loop().create_future()
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server on a free loopback port, on a thread of its own; faults off by default.

    Counters: `accepted` counts messages answered 250 after DATA; `temp_failed` and
    `perm_failed` count RCPT replies (one per recipient per attempt); `dropped` counts
    connections closed after DATA; `domain_refused` counts RCPTs refused by `refuse_domains`,
    which a test switches on and off while the sink runs.
    """

    def __init__(
        self,
        *,
        temp_fail_first_fraction: float = 0.0,
        perm_fail_fraction: float = 0.0,
        drop_fraction: float = 0.0,
        seed: int = 1,
        temp_fail_attempts: int = 1,
        pipelining: bool = False,
        sender_reply: str = "",
        port: int = 0,
    ) -> None:
        self.port = port or free_port()
        # Advertise PIPELINING in the EHLO answer; refuse every MAIL FROM with this reply.
        self.pipelining = pipelining
        self.sender_reply = sender_reply
        # One Condition guards all state: the handler runs on the controller's event-loop
        # thread while the test reads from its own.
        self._lock = threading.Condition()
        self._faults = Faults(
            temp_fail_first_fraction=temp_fail_first_fraction,
            perm_fail_fraction=perm_fail_fraction,
            drop_fraction=drop_fraction,
            seed=seed,
            temp_fail_attempts=temp_fail_attempts,
        )
        self._received: list[Received] = []
        self._dropped_after_data: list[Received] = []
        self._attempts: defaultdict[str, list[float]] = defaultdict(list)
        self._data_attempts: defaultdict[str, int] = defaultdict(int)
        self._counters = {
            "accepted": 0,
            "temp_failed": 0,
            "perm_failed": 0,
            "dropped": 0,
            "domain_refused": 0,
        }
        # Domain (lower-case) -> the reply every RCPT TO of it gets, before the fault script.
        self._domain_replies: dict[str, str] = {}
        self._domain_close = False
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on `port`; after stop(), again on the same port, keeping what was received."""
        # A controller's event loop is closed by stop(): a server that comes back needs a new one.
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (connections are refused until start()); stopping twice is harmless."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def set_faults(
        self,
        *,
        temp_fail_first_fraction: float | None = None,
        perm_fail_fraction: float | None = None,
        drop_fraction: float | None = None,
        seed: int | None = None,
        temp_fail_attempts: int | None = None,
    ) -> None:
        """Change the faults while running; arguments left as None keep their value."""
        with self._lock:
            self._faults = self._faults.changed(
                temp_fail_first_fraction=temp_fail_first_fraction,
                perm_fail_fraction=perm_fail_fraction,
                drop_fraction=drop_fraction,
                seed=seed,
                temp_fail_attempts=temp_fail_attempts,
            )

    def refuse_domains(
        self, domains: Iterable[str], reply: str = DOMAIN_SLOW_DOWN_REPLY, *, close: bool = False
    ) -> None:
        """Answer every RCPT TO of these domains with `reply` from now on (a provider that says
        "slow down" to us), then hang up if `close`; `accept_domains` ends it."""
        if not reply[:3].isdigit() or reply[0] not in "45":
            raise ValueError(f"a refusal is a 4xx or 5xx reply, not {reply!r}")
        with self._lock:
            self._domain_replies = {domain.lower(): reply for domain in domains}
            self._domain_close = close

    def accept_domains(self) -> None:
        """Stop refusing the domains `refuse_domains` named."""
        self.refuse_domains([])

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def clear(self) -> None:
        """Forget everything received and every attempt; the fault settings stay."""
        with self._lock:
            self._received.clear()
            self._dropped_after_data.clear()
            self._attempts.clear()
            self._data_attempts.clear()
            for name in self._counters:
                self._counters[name] = 0

    # -- the deterministic predicates (faults.py) ------------------------------------------

    def will_perm_fail(self, address: str) -> bool:
        return self.faults.will_perm_fail(address)

    def will_temp_fail_first(self, address: str) -> bool:
        """True if the first attempt(s) get 451; never for an address that gets 550."""
        return self.faults.will_temp_fail_first(address)

    def will_drop(self, rcpt_tos: Iterable[str], data_attempt: int = 1) -> bool:
        """True if the `data_attempt`-th DATA (1-based) for these recipients is dropped."""
        return self.faults.will_drop(rcpt_tos, data_attempt)

    # -- what happened ---------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def dropped_after_data(self) -> list[Received]:
        with self._lock:
            return list(self._dropped_after_data)

    @property
    def attempts(self) -> dict[str, list[float]]:
        """time.monotonic() of every RCPT TO per address (lower-cased), accepted or not."""
        with self._lock:
            return {address: list(times) for address, times in self._attempts.items()}

    @property
    def accepted(self) -> int:
        return self._counter("accepted")

    @property
    def temp_failed(self) -> int:
        return self._counter("temp_failed")

    @property
    def perm_failed(self) -> int:
        return self._counter("perm_failed")

    @property
    def dropped(self) -> int:
        return self._counter("dropped")

    @property
    def domain_refused(self) -> int:
        """RCPT TOs answered with a `refuse_domains` reply."""
        return self._counter("domain_refused")

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[Received]:
        """Block until at least `count` messages were accepted; fail the test if they were not."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"SMTP sink received {len(self._received)} message(s), expected "
                        f"{count} within {timeout:.0f} s"
                    )
                self._lock.wait(remaining)
            return list(self._received)

    # -- called by the handler on the event-loop thread ------------------------------------

    def _counter(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def _rcpt_reply(self, address: str) -> str | None:
        """The refusal to send for this RCPT TO, or None to accept it."""
        with self._lock:
            times = self._attempts[address.lower()]
            times.append(time.monotonic())
            domain = address.rpartition("@")[2].lower()
            if domain in self._domain_replies:
                self._counters["domain_refused"] += 1
                return self._domain_replies[domain]
            reply = self._faults.rcpt_reply(address, attempt=len(times))
            if reply is not None:
                kind = "perm_failed" if reply == PERM_FAIL_REPLY else "temp_failed"
                self._counters[kind] += 1
            return reply

    def _closes_after(self, address: str) -> bool:
        with self._lock:
            return self._domain_close and address.rpartition("@")[2].lower() in self._domain_replies

    def _data_accepted(self, received: Received) -> bool:
        """Record a complete DATA; False means the connection must be dropped unanswered."""
        with self._lock:
            key = envelope_key(received.rcpt_tos)
            self._data_attempts[key] += 1
            drop = self._faults.will_drop(received.rcpt_tos, self._data_attempts[key])
            if drop:
                self._counters["dropped"] += 1
                self._dropped_after_data.append(received)
            else:
                self._counters["accepted"] += 1
                self._received.append(received)
                self._lock.notify_all()
        return not drop
