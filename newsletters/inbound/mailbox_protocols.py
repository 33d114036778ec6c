"""The two ways into a bounce mailbox, IMAP and POP3 over TLS, behind one small interface.

mailbox.py drives a session: list what is waiting, fetch one message, mark it removed, and
finish (IMAP EXPUNGE, POP3 QUIT: only then are the removals final). Every failure surfaces as
MailboxError with a one-line reason; nothing here decides what a message means.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Every socket operation (connect, TLS handshake, each read) waits at most this long: a mailbox
# that stops answering ends the run with an error instead of holding a worker until its limit.
SOCKET_TIMEOUT = 30.0
# poplib refuses lines over 2048 bytes (a guard against endless lines); real bounces quote
# original messages whose lines break RFC 5322's 998, and one such message would otherwise stop
# the mailbox for good. Memory stays bounded by mailbox.py's message size limit.
POP3_MAX_LINE = 1024 * 1024


class MailboxError(Exception):
    """The mailbox could not be reached or did not do what was asked; str() says why."""


# What talking to a mailbox may raise: the socket's and TLS's errors (OSError), the protocol
# libraries' own, and ours.
SESSION_ERRORS = (MailboxError, OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto)


@dataclass(frozen=True)
class Waiting:
    """What a session found: message ids to fetch (oldest first), and how many are too big."""

    ids: list[str]
    total_count: int
    too_big_count: int


class MailboxSession(Protocol):
    def waiting(self, *, max_bytes: int) -> Waiting: ...

    def fetch(self, message_id: str) -> bytes | None: ...

    def remove(self, message_id: str) -> None: ...

    def finish(self) -> None: ...

    def abandon(self) -> None: ...


def error_reason(error: BaseException) -> str:
    """One line saying why a mailbox operation failed, without a traceback or a password."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    if isinstance(error, TimeoutError):
        return f"no answer within {SOCKET_TIMEOUT:g} s"
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    text = error.args[0] if error.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split()) or type(error).__name__


def _text(data: Sequence[object]) -> str:
    parts = [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in data
    ]
    return " ".join(" ".join(parts).split())


def _quoted(folder: str) -> str:
    # RFC 3501 quoted string: a folder name may hold spaces.
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSession:
    """IMAP4rev1 over TLS: UID commands, so ids stay right while others change the folder."""

    def __init__(self, *, host: str, port: int, context: ssl.SSLContext) -> None:
        self.client = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=SOCKET_TIMEOUT)

    def login(self, *, username: str, password: str, folder: str) -> None:
        try:
            self.client.login(username, password)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as error:
            raise MailboxError(f"login refused: {error_reason(error)}") from None
        if not folder.isascii():
            raise MailboxError(f"folder {folder!r}: only ASCII folder names are supported")
        status, data = self.client.select(_quoted(folder))
        if status != "OK":
            raise MailboxError(f"folder {folder!r} cannot be opened: {_text(data)}")

    def _uids(self, *criteria: str) -> list[str]:
        status, data = self.client.uid("SEARCH", *criteria)
        if status != "OK":
            raise MailboxError(f"SEARCH failed: {_text(data)}")
        return [uid.decode() for uid in (data[0] or b"").split()]

    def waiting(self, *, max_bytes: int) -> Waiting:
        # UNDELETED: a message flagged by a run whose EXPUNGE never came was applied already;
        # this run's EXPUNGE removes it.
        every = self._uids("UNDELETED")
        too_big = set(self._uids("UNDELETED", "LARGER", str(max_bytes)))
        return Waiting(
            ids=[uid for uid in every if uid not in too_big],
            total_count=len(every),
            too_big_count=len(too_big),
        )

    def fetch(self, message_id: str) -> bytes | None:
        # BODY.PEEK: fetching does not mark the message \Seen, so one left behind looks unread.
        status, data = self.client.uid("FETCH", message_id, "(BODY.PEEK[])")
        if status != "OK":
            raise MailboxError(f"FETCH failed: {_text(data)}")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None  # removed by someone else since the search

    def remove(self, message_id: str) -> None:
        status, data = self.client.uid("STORE", message_id, "+FLAGS.SILENT", r"(\Deleted)")
        if status != "OK":
            raise MailboxError(f"STORE \\Deleted failed: {_text(data)}")

    def finish(self) -> None:
        status, data = self.client.expunge()
        if status != "OK":
            raise MailboxError(f"EXPUNGE failed: {_text(data)}")
        self.client.logout()

    def abandon(self) -> None:
        # Already gone: nothing is left to close.
        with contextlib.suppress(OSError):
            self.client.shutdown()


class _Pop3Client(poplib.POP3_SSL):
    def _getline(self) -> tuple[bytes, int]:
        # poplib's own, with a larger line limit (see POP3_MAX_LINE).
        line = self.file.readline(POP3_MAX_LINE + 1)
        if len(line) > POP3_MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        if line[-2:] == b"\r\n":
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets


_LISTING = re.compile(rb"^(\d+) (\d+)")


class Pop3Session:
    """POP3 over TLS (RFC 1939): DELE marks, and only QUIT makes the marks final."""

    def __init__(self, *, host: str, port: int, context: ssl.SSLContext) -> None:
        self.client = _Pop3Client(host, port, context=context, timeout=SOCKET_TIMEOUT)

    def login(self, *, username: str, password: str) -> None:
        try:
            self.client.user(username)
            self.client.pass_(password)
        except poplib.error_proto as error:
            raise MailboxError(f"login refused: {error_reason(error)}") from None

    def waiting(self, *, max_bytes: int) -> Waiting:
        _, listing, _ = self.client.list()
        ids: list[str] = []
        too_big_count = 0
        for line in listing:
            found = _LISTING.match(line)
            if found is None:
                continue  # not "number size": nothing we could ask for
            if int(found.group(2)) > max_bytes:
                too_big_count += 1
            else:
                ids.append(found.group(1).decode())
        return Waiting(ids=ids, total_count=len(ids) + too_big_count, too_big_count=too_big_count)

    def fetch(self, message_id: str) -> bytes | None:
        # retr() undoes the dot-stuffing (RFC 1939 §3) and strips the line ends; put them back.
        _, lines, _ = self.client.retr(int(message_id))
        return b"\r\n".join(lines) + b"\r\n"

    def remove(self, message_id: str) -> None:
        self.client.dele(int(message_id))

    def finish(self) -> None:
        self.client.quit()

    def abandon(self) -> None:
        # No QUIT: the server forgets the DELE marks, so nothing is removed that was not applied.
        self.client.close()
