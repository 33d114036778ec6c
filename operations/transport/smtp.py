"""One reusable SMTP connection per worker process, sending prepared bytes pipelined.

Messages go out as prepared bytes in one pipelined transaction (RFC 2920: MAIL, RCPT and DATA
in one write) rather than through smtplib.sendmail, which re-scans every message with two
regular expressions to fix line ends and dot-stuff; ours are CRLF already, so stuffing is one
bytes.replace. A Celery prefork child runs one task at a time, so digests and transactional
mail take turns on the same connection and never share it at once.

A caller that knows its next message (a digest's batch does) names its envelope (`then`): its
MAIL, RCPT and DATA go in the same write as this message's content (RFC 2920 lets content start
a group), and their replies come back with this message's. A message then costs one round trip
instead of two, and the server wakes once for it instead of twice. The crash bound is unchanged:
when `send` returns, this message's outcome is known and the next one has only an open DATA (no
content), which delivers nothing; a DATA nobody sends content for is ended by closing the
connection (`pipeline_abandon`), never with an empty message.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from operations.transport.outcomes import Outcome, one_line, rcpt_outcome, reply_outcome

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
Envelope = tuple[str, str]  # (MAIL FROM, RCPT TO)
Reply = tuple[int, bytes]


@dataclass(frozen=True)
class _Opened:
    """A next message's envelope sent ahead, with the server's replies to it (up to three)."""

    envelope: Envelope
    replies: list[Reply]


class SmtpConnection:
    """The process's connection to EMAIL_URL's server (opened lazily, reopened when lost)."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None
        self.pipelining = False
        self._opened: _Opened | None = None

    def _open(self) -> smtplib.SMTP:
        host, port, timeout = settings.EMAIL_HOST, int(settings.EMAIL_PORT), settings.EMAIL_TIMEOUT
        client: smtplib.SMTP
        if settings.EMAIL_USE_SSL:
            client = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if settings.EMAIL_USE_TLS and not settings.EMAIL_USE_SSL:
                client.starttls(context=ssl.create_default_context())
            if settings.EMAIL_HOST_USER:
                client.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
            client.ehlo_or_helo_if_needed()
        except BaseException:
            client.close()  # a half-made session is never kept nor reused
            raise
        self.pipelining = client.has_extn("pipelining")
        return client

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def _drop(self) -> None:
        # Mid-dialogue state unknown: the socket is closed rather than reused (no QUIT).
        self._opened = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def pipeline_abandon(self) -> None:
        """End a next message's envelope that was opened and will not be sent after all.

        The server said 354 to its DATA: only content or a closed connection ends that, and
        content would be an empty message to a reader. So the connection is closed.
        """
        if self._opened is not None:
            self._drop()

    def send(
        self, *, from_address: str, to: str, raw: bytes, then: Envelope | None = None
    ) -> Outcome:
        wire = raw.replace(b"\r\n.", b"\r\n..")
        wire += b".\r\n" if wire.endswith(b"\r\n") else b"\r\n.\r\n"
        opened, self._opened = self._opened, None
        if opened is not None and opened.envelope != (from_address, to):
            self._drop()  # opened for another message than this one: see pipeline_abandon
            opened = None
        # A connection the server closed while we were idle is found out on the first send: reopen
        # once and try again before reporting anything.
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = self._open()
                    opened = None
                ahead = then if self.pipelining else None
                return self._transaction(
                    self.connection, from_address, to, wire, opened=opened, then=ahead
                )
            except smtplib.SMTPAuthenticationError as refused:
                self.close()
                return Outcome(
                    ok=False,
                    halt=True,
                    pause=True,
                    code=refused.smtp_code,
                    error=one_line(f"The mail server refused the login in EMAIL_URL: {refused}"),
                )
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as lost:
                self.connection, self._opened, opened = None, None, None
                if attempt == 2:
                    return _unreachable(lost)
            except smtplib.SMTPException as refused:
                # (Before OSError: every SMTPException is one.) The server answered but would not
                # set up the session EMAIL_URL asks for (STARTTLS, HELO): its settings or ours.
                self._drop()
                code = getattr(refused, "smtp_code", None)
                return Outcome(
                    ok=False,
                    halt=True,
                    pause=not (isinstance(code, int) and 400 <= code < 500),
                    code=code if isinstance(code, int) else None,
                    error=one_line(
                        "The mail server in EMAIL_URL refused the session: "
                        f"{type(refused).__name__}: {refused}"
                    ),
                )
            except OSError as lost:  # refused, reset, timed out, TLS failure
                self._drop()
                opened = None
                if attempt == 2:
                    return _unreachable(lost)
            except BaseException:
                # A time limit or a bug mid-dialogue: the next task must not inherit it.
                self._drop()
                raise
        return Outcome(ok=False, halt=True, error="Could not reach the mail server in EMAIL_URL")

    def _transaction(
        self,
        client: smtplib.SMTP,
        sender: str,
        to: str,
        wire: bytes,
        *,
        opened: _Opened | None = None,
        then: Envelope | None = None,
    ) -> Outcome:
        replies: list[Reply]
        if opened is not None:
            replies = opened.replies  # sent with the previous message's content
        elif self.pipelining:
            client.send(_envelope_commands((sender, to)))
            replies = _envelope_replies(client)
        else:
            mail = f"MAIL FROM:{smtp_path(sender)}\r\n"
            rcpt = f"RCPT TO:{smtp_path(to)}\r\n"
            replies = []
            for command, accepted in ((mail, {250}), (rcpt, {250, 251}), ("DATA\r\n", {354})):
                client.send(command)
                replies.append(client.getreply())
                if replies[-1][0] not in accepted:
                    break
        (mail_code, mail_text), *rest = replies
        if mail_code != 250:
            self._reset(client, data_open=len(rest) == 2 and rest[1][0] == 354)
            return Outcome(
                ok=False,
                code=mail_code,
                # 5xx: the server will not take mail from DEFAULT_FROM_EMAIL / the list's sender
                # at all, whoever the reader is; 4xx: it may later.
                halt=True,
                pause=500 <= mail_code < 600,
                error=one_line(
                    f"The mail server refused the sender {sender}: "
                    f"{mail_code} {one_line(mail_text)}"
                ),
            )
        rcpt_code, rcpt_text = rest[0]
        if rcpt_code not in {250, 251}:
            self._reset(client, data_open=len(rest) == 2 and rest[1][0] == 354)
            return rcpt_outcome(rcpt_code, rcpt_text)
        data_code, data_text = rest[1]
        if data_code != 354:
            self._reset(client, data_open=False)
            return reply_outcome(data_code, data_text)
        if then is None:
            client.send(wire)
        else:
            client.send(wire + _envelope_commands(then))
        code, text = client.getreply()
        outcome = Outcome(ok=True) if code == 250 else reply_outcome(code, text)
        if then is not None:
            self._opened = self._opened_read(client, then)
        return outcome

    def _opened_read(self, client: smtplib.SMTP, then: Envelope) -> _Opened | None:
        """The replies to the next envelope; this message's outcome is known whatever happens."""
        try:
            return _Opened(envelope=then, replies=_envelope_replies(client))
        except smtplib.SMTPServerDisconnected:
            self.connection = None  # the next message opens a new one and starts afresh
        except (smtplib.SMTPException, OSError):
            self._drop()
        return None

    def _reset(self, client: smtplib.SMTP, *, data_open: bool) -> None:
        # End the failed transaction so the connection can carry the next message.
        try:
            if data_open:  # the server said 354 all the same: give it an empty message back
                client.send(b".\r\n")
                client.getreply()
            client.rset()
        except (smtplib.SMTPException, OSError):
            self.connection = None


# A plain addr-spec (dot-atom local part, no display name, comment or quotes): every reader's
# address and return path. smtplib.quoteaddr parses any RFC 5322 address to find the addr-spec,
# ~8 µs an address and two a message; for these it would only put them in angle brackets.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def smtp_path(address: str) -> str:
    """`address` as the path of MAIL FROM or RCPT TO: what smtplib.quoteaddr gives, cheaply."""
    if _PLAIN.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _envelope_commands(envelope: Envelope) -> bytes:
    sender, to = envelope
    commands = f"MAIL FROM:{smtp_path(sender)}\r\nRCPT TO:{smtp_path(to)}\r\nDATA\r\n"
    return commands.encode("ascii")


def _envelope_replies(client: smtplib.SMTP) -> list[Reply]:
    """The replies to a pipelined MAIL, RCPT and DATA (fewer if the server hung up after a 421)."""
    replies: list[Reply] = []
    for _ in range(3):
        try:
            replies.append(client.getreply())
        except smtplib.SMTPServerDisconnected:
            # RFC 5321 3.8: a server may close the channel right after a 421 (a provider
            # refusing a recipient's domain does). Its answer stands; sending again on a new
            # connection, as for a lost one, would only collect it twice.
            if not any(code == 421 for code, _ in replies):
                raise
            break
    return replies


def _unreachable(lost: BaseException) -> Outcome:
    return Outcome(
        ok=False, halt=True, error=one_line(f"Could not reach the mail server in EMAIL_URL: {lost}")
    )


_smtp = SmtpConnection()


def smtp_send(*, from_address: str, to: str, raw: bytes, then: Envelope | None = None) -> Outcome:
    """Send prepared bytes over this process's connection to EMAIL_URL; never raises for replies.

    `then`: the envelope of the message the caller sends next, opened in the same write.
    """
    return _smtp.send(from_address=from_address, to=to, raw=raw, then=then)


def smtp_pipeline_abandon() -> None:
    """Close the connection if a next message's envelope is open (see pipeline_abandon)."""
    _smtp.pipeline_abandon()


def smtp_close() -> None:
    """Close this process's SMTP connection (QUIT if it still answers)."""
    _smtp.close()


# What the connection was opened with: a different server, port or login needs a new one.
_CONNECTION_SETTINGS = frozenset(
    {
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
        "EMAIL_TIMEOUT",
    }
)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Settings change at run time only in tests (override_settings); the next send reconnects.
    if setting in _CONNECTION_SETTINGS:
        _smtp.close()
