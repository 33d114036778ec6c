"""Reading the local outbox back: message summaries for the list, parts for one message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from outbox.backend import outbox_dir

# Only names the backend writes: no path separators, no dots to climb out of the folder.
MESSAGE_ID_PATTERN = re.compile(r"^[0-9]{20}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    subject: str
    sender: str
    recipients: str
    date: str
    size: int


@dataclass(frozen=True)
class OutboxMessage:
    entry: OutboxEntry
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    raw: str


def outbox_entries(*, limit: int = 200) -> tuple[list[OutboxEntry], int]:
    """The newest `limit` messages, newest first, and how many there are in all."""
    directory = outbox_dir()
    if not directory.is_dir():
        return [], 0
    paths = sorted(directory.glob("*.eml"), reverse=True)
    return [_entry(path, _parse(path)) for path in paths[:limit]], len(paths)


def outbox_message(*, key: str) -> OutboxMessage | None:
    """One message with its text and HTML parts, or None if `key` names none."""
    if not MESSAGE_ID_PATTERN.fullmatch(key):
        return None
    path = outbox_dir() / f"{key}.eml"
    if not path.is_file():
        return None
    message = _parse(path)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return OutboxMessage(
        entry=_entry(path, message),
        headers=[(name, str(value)) for name, value in message.items()],
        text=text_part.get_content() if text_part is not None else None,
        html=html_part.get_content() if html_part is not None else None,
        raw=path.read_bytes().decode("utf-8", errors="replace"),
    )


def outbox_clear() -> int:
    """Delete every message in the outbox; returns how many were deleted."""
    directory = outbox_dir()
    if not directory.is_dir():
        return 0
    paths = list(directory.glob("*.eml"))
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)


def _parse(path: Path) -> EmailMessage:
    with open(path, "rb") as handle:
        parsed = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
    return parsed


def _entry(path: Path, message: EmailMessage) -> OutboxEntry:
    return OutboxEntry(
        key=path.stem,
        subject=str(message.get("Subject", "(no subject)")),
        sender=str(message.get("From", "")),
        recipients=", ".join(str(v) for v in (message.get_all("To") or [])),
        date=str(message.get("Date", "")),
        size=path.stat().st_size,
    )
