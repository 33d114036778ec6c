"""Reading the local outbox back: message summaries for the list, parts for one message."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import BinaryIO, overload

from outbox.backend import outbox_dir

# Only names the backend writes: no path separators, no dots to climb out of the folder.
MESSAGE_ID_PATTERN = re.compile(r"^[0-9]{20}-[0-9a-f]{12}$")
MESSAGE_FILE_PATTERN = re.compile(r"^[0-9]{20}-[0-9a-f]{12}\.eml$")

# The list needs four headers, never a body: reading stops at the blank line that ends the
# header block, and a file with no such line within this much is summarised from what was read.
HEADER_BLOCK_LIMIT = 64 * 1024
HEADER_CHUNK_SIZE = 8 * 1024
# Files are written once under a unique name and never change, so a summary read once stays
# true; the bound keeps memory at a few MB however big the outbox grows.
ENTRY_CACHE_SIZE = 20_000


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    subject: str
    sender: str
    recipients: str
    date: str
    size: int

    def matches(self, needle: str) -> bool:
        """Whether the casefolded `needle` is in the subject, the From or the To header."""
        return any(
            needle in field.casefold() for field in (self.subject, self.sender, self.recipients)
        )


@dataclass(frozen=True)
class OutboxMessage:
    entry: OutboxEntry
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    raw: str


def outbox_entries(*, query: str = "") -> tuple[Sequence[OutboxEntry], int]:
    """Messages newest first (only those whose subject, From or To contains `query`, in any case)
    and how many messages the outbox holds in all.

    Without a query nothing is read until the sequence is sliced, so showing one page of
    thousands reads one page of header blocks; a query reads every header block, never a body.
    """
    names = _message_names()
    everything = _EntriesOnDemand(names)
    needle = query.strip().casefold()
    if not needle:
        return everything, len(names)
    return [entry for entry in everything if entry.matches(needle)], len(names)


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
        entry=_read_entry(str(path)),
        # A header folded right after its colon (as Python folds a long encoded subject) would
        # otherwise show with a leading space.
        headers=[(name, str(value).strip()) for name, value in message.items()],
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


class _EntriesOnDemand(Sequence[OutboxEntry]):
    """File names, newest first, read into entries only when indexed, sliced or iterated."""

    def __init__(self, names: list[str]) -> None:
        self._directory = outbox_dir()
        self._names = names

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> OutboxEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[OutboxEntry]: ...
    def __getitem__(self, index: int | slice) -> OutboxEntry | list[OutboxEntry]:
        if isinstance(index, slice):
            return [self._entry(name) for name in self._names[index]]
        return self._entry(self._names[index])

    def __iter__(self) -> Iterator[OutboxEntry]:
        return (self._entry(name) for name in self._names)

    def _entry(self, name: str) -> OutboxEntry:
        return _read_entry(str(self._directory / name))


def _message_names() -> list[str]:
    directory = outbox_dir()
    if not directory.is_dir():
        return []
    # Names start with the arrival time in nanoseconds, zero-padded: reverse order is newest first.
    with os.scandir(directory) as found:
        names = [entry.name for entry in found if MESSAGE_FILE_PATTERN.fullmatch(entry.name)]
    return sorted(names, reverse=True)


def _parse(path: Path) -> EmailMessage:
    with open(path, "rb") as handle:
        parsed = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
    return parsed


@functools.lru_cache(maxsize=ENTRY_CACHE_SIZE)
def _read_entry(path: str) -> OutboxEntry:
    key = Path(path).stem
    try:
        with open(path, "rb") as handle:
            block = _read_header_block(handle)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        # Deleted between listing the folder and reading it (the outbox was just emptied).
        return OutboxEntry(key, "(deleted)", "", "", "", 0)
    # compat32 leaves header values as written; policy.default would also parse every address
    # and date into objects, which costs seven times as much and the list shows only text.
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(block)
    return OutboxEntry(
        key=key,
        subject=_header_text(headers, "Subject") or "(no subject)",
        sender=_header_text(headers, "From"),
        recipients=_header_text(headers, "To"),
        date=_header_text(headers, "Date"),
        size=size,
    )


def _read_header_block(handle: BinaryIO) -> bytes:
    # Headers are a few KiB and bodies can be megabytes: read a little at a time, stop at the end.
    data = b""
    while len(data) < HEADER_BLOCK_LIMIT:
        chunk = handle.read(HEADER_CHUNK_SIZE)
        data += chunk
        if not chunk or b"\n\n" in data or b"\n\r\n" in data:
            break
    return _header_block(data[:HEADER_BLOCK_LIMIT])


def _header_block(data: bytes) -> bytes:
    # Up to and including the line break that ends the last header (mail has CRLF; be lenient).
    ends = [
        found + len(blank) // 2
        for blank in (b"\r\n\r\n", b"\n\n")
        if (found := data.find(blank)) != -1
    ]
    return data[: min(ends)] if ends else data


def _header_text(headers: Message, name: str) -> str:
    wanted = name.lower()
    return ", ".join(_decoded(value) for key, value in headers.raw_items() if key.lower() == wanted)


def _decoded(raw: str) -> str:
    # compat32 keeps 8-bit bytes as surrogates and folded lines as CRLF + space: undo both,
    # then decode RFC 2047 encoded words ("=?utf-8?q?Caf=C3=A9?=").
    text = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    text = re.sub(r"\r?\n(?=[ \t])", "", text).strip()
    if "=?" not in text:
        return text  # no encoded word: most addresses and every date, at a tenth of the cost
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        # A malformed encoded word or an unknown charset: show the header as it was written.
        return text
