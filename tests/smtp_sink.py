"""A real SMTP server for tests (aiosmtpd on a free loopback port) that keeps what it receives."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink._add(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=envelope.original_content,
            )
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def received_wait(
    lock: threading.Condition, received: list[Received], *, count: int, timeout: float
) -> list[Received]:
    """Wait on `lock` until `received` holds `count` messages; an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    with lock:
        while len(received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"SMTP sink received {len(received)} message(s), expected {count} "
                    f"within {timeout:.0f} s"
                )
            lock.wait(remaining)
        return list(received)


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self._received: list[Received] = []
        self._lock = threading.Condition()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[Received]:
        """Block until at least `count` messages arrived; fail the test if they do not."""
        return received_wait(self._lock, self._received, count=count, timeout=timeout)

    def _add(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()
