"""Bytes already serialized, handed to any Django email backend as if they were a message.

Django's SMTP backend and the local outbox both call `message().as_bytes(linesep=...)`; the
transport hands them the bytes the caller built instead of building the message again.
"""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMultiAlternatives


class _PreparedBytes:
    """What Django's backends need of `message()`: bytes, already CRLF-terminated."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\r\n") -> bytes:
        return self._raw


class PreparedEmailMessage(EmailMultiAlternatives):
    """Prepared bytes for a Django email backend that serializes `message()`."""

    def __init__(self, *, raw: bytes, from_email: str, to: str) -> None:
        super().__init__(from_email=from_email, to=[to])
        self._raw = raw

    def message(self) -> Any:
        return _PreparedBytes(self._raw)
