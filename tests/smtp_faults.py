"""An SMTP sink that misbehaves on purpose, so the delivery engine's retry logic can be tested.

Where each fault happens in the SMTP dialogue:

* 550 5.1.1 (permanent) -- at RCPT TO, on every attempt, for the addresses `will_perm_fail`
  picks. smtplib reports it per recipient: `SMTPRecipientsRefused` (code 550) when every
  recipient of the message was refused, otherwise in `sendmail`'s returned dict.
* 451 4.3.0 (temporary) -- also at RCPT TO, for the first `temp_fail_attempts` (default 1)
  RCPTs of the addresses `will_temp_fail_first` picks; later attempts are accepted. RCPT time
  rather than DATA time because that is where a real server greylists, and it lets smtplib
  report a per-recipient code instead of one `SMTPDataError` for the whole message.
* A refused sender -- every MAIL FROM answered with `sender_reply`, if set (the server will
  not take mail from us at all: a wrong sender domain, an expired login).
* Dropped connection -- after the whole DATA body has been read, before the 250 is sent: the
  transport is closed and the client sees `SMTPServerDisconnected`. That is the ambiguous case
  (the server has the message, the client cannot know), so such messages are kept in
  `dropped_after_data`, never in `received`: a test can reason about possible duplicates.

Every choice is a pure function of the seed and the address (or the recipients and how many
times they reached DATA), never of arrival order, so concurrent workers see the same faults
and a test can compute the expected outcome up front with the `will_*` predicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.smtp_sink import Received, free_port, received_wait

TEMP_FAIL_REPLY = "451 4.3.0 Try again later"
PERM_FAIL_REPLY = "550 5.1.1 No such user"


def _fraction_of(seed: int, kind: str, key: str) -> float:
    """A stable number in [0, 1) for (seed, kind, key); `hash()` is salted per process."""
    digest = hashlib.blake2b(f"{seed}\0{kind}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _envelope_key(rcpt_tos: Iterable[str]) -> str:
    return ",".join(sorted(address.lower() for address in rcpt_tos))


class _Handler:
    def __init__(self, sink: FaultySmtpSink) -> None:
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
        )
        if not self.sink._data_accepted(received):
            assert server.transport is not None
            server.transport.close()
            # Never return: connection_lost() cancels this coroutine, so no reply is written
            # to the closed transport and aiosmtpd logs no spurious error.
            await asyncio.get_running_loop().create_future()
        return "250 Message accepted for delivery"


class FaultySmtpSink:
    """An aiosmtpd server on a free loopback port; see the module docstring for the faults.

    Counters: `accepted` counts messages answered 250 after DATA; `temp_failed` and
    `perm_failed` count RCPT replies (one per recipient per attempt); `dropped` counts
    connections closed after DATA.
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
    ) -> None:
        self.port = free_port()
        # Advertise PIPELINING in the EHLO answer; refuse every MAIL FROM with this reply.
        self.pipelining = pipelining
        self.sender_reply = sender_reply
        # One Condition guards all state: the handler runs on the controller's event-loop
        # thread while the test reads from its own.
        self._lock = threading.Condition()
        self._temp_fraction = 0.0
        self._perm_fraction = 0.0
        self._drop_fraction = 0.0
        self._seed = seed
        self._temp_attempts = 1
        self.set_faults(
            temp_fail_first_fraction=temp_fail_first_fraction,
            perm_fail_fraction=perm_fail_fraction,
            drop_fraction=drop_fraction,
            temp_fail_attempts=temp_fail_attempts,
        )
        self._received: list[Received] = []
        self._dropped_after_data: list[Received] = []
        self._attempts: defaultdict[str, list[float]] = defaultdict(list)
        self._data_attempts: defaultdict[str, int] = defaultdict(int)
        self._counters = {"accepted": 0, "temp_failed": 0, "perm_failed": 0, "dropped": 0}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

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
        for fraction in (temp_fail_first_fraction, perm_fail_fraction, drop_fraction):
            if fraction is not None and not 0.0 <= fraction <= 1.0:
                raise ValueError(f"a fault fraction must be within [0, 1], not {fraction}")
        if temp_fail_attempts is not None and temp_fail_attempts < 1:
            raise ValueError("temp_fail_attempts must be at least 1")
        with self._lock:
            if temp_fail_first_fraction is not None:
                self._temp_fraction = temp_fail_first_fraction
            if perm_fail_fraction is not None:
                self._perm_fraction = perm_fail_fraction
            if drop_fraction is not None:
                self._drop_fraction = drop_fraction
            if seed is not None:
                self._seed = seed
            if temp_fail_attempts is not None:
                self._temp_attempts = temp_fail_attempts

    def clear(self) -> None:
        """Forget everything received and every attempt; the fault settings stay."""
        with self._lock:
            self._received.clear()
            self._dropped_after_data.clear()
            self._attempts.clear()
            self._data_attempts.clear()
            for name in self._counters:
                self._counters[name] = 0

    # -- the deterministic predicates ------------------------------------------------------

    def will_perm_fail(self, address: str) -> bool:
        with self._lock:
            return _fraction_of(self._seed, "perm", address.lower()) < self._perm_fraction

    def will_temp_fail_first(self, address: str) -> bool:
        """True if the first attempt(s) get 451; never for an address that gets 550."""
        with self._lock:
            chosen = _fraction_of(self._seed, "temp", address.lower()) < self._temp_fraction
        return chosen and not self.will_perm_fail(address)

    def will_drop(self, rcpt_tos: Iterable[str], data_attempt: int = 1) -> bool:
        """True if the `data_attempt`-th DATA (1-based) for these recipients is dropped."""
        key = f"{_envelope_key(rcpt_tos)}#{data_attempt}"
        with self._lock:
            return _fraction_of(self._seed, "drop", key) < self._drop_fraction

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

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[Received]:
        """Block until at least `count` messages were accepted; fail the test if they were not."""
        return received_wait(self._lock, self._received, count=count, timeout=timeout)

    # -- called by the handler on the event-loop thread ------------------------------------

    def _counter(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def _rcpt_reply(self, address: str) -> str | None:
        """The refusal to send for this RCPT TO, or None to accept it."""
        perm = self.will_perm_fail(address)
        temp = self.will_temp_fail_first(address)
        with self._lock:
            times = self._attempts[address.lower()]
            times.append(time.monotonic())
            if perm:
                self._counters["perm_failed"] += 1
                return PERM_FAIL_REPLY
            if temp and len(times) <= self._temp_attempts:
                self._counters["temp_failed"] += 1
                return TEMP_FAIL_REPLY
            return None

    def _data_accepted(self, received: Received) -> bool:
        """Record a complete DATA; False means the connection must be dropped unanswered."""
        with self._lock:
            key = _envelope_key(received.rcpt_tos)
            self._data_attempts[key] += 1
            attempt = self._data_attempts[key]
        drop = self.will_drop(received.rcpt_tos, attempt)
        with self._lock:
            if drop:
                self._counters["dropped"] += 1
                self._dropped_after_data.append(received)
            else:
                self._counters["accepted"] += 1
                self._received.append(received)
                self._lock.notify_all()
        return not drop
