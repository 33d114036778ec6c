"""An email backend that keeps every message, byte for byte, as one `.eml` file in OUTBOX_DIR.

The default EMAIL_URL (`outbox://`) selects it, so a fresh `make run` mails nobody yet shows staff
exactly what would have been sent: headers, the HTML part and the text part.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


def outbox_dir() -> Path:
    return Path(settings.OUTBOX_DIR)


class OutboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        directory = outbox_dir()
        directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            try:
                _write_atomically(directory, message.message().as_bytes(linesep="\r\n"))
            except Exception:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent


def _write_atomically(directory: Path, data: bytes) -> Path:
    # Nanosecond time first so names sort by arrival; a uuid keeps concurrent workers apart.
    # Written under a dot-name and renamed, so a reader never sees half a message.
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.eml"
    partial = directory / f".{name}.partial"
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    final = directory / name
    partial.replace(final)
    return final
