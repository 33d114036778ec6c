"""Handing one prepared message to the mail server, with outcomes in one vocabulary.

For SMTP (the common case) a worker process keeps one connection open across batches and sends
the prepared bytes with smtplib; an ESP's django-anymail backend gets a structured message made
from them (esp.py); any other Django backend (the local outbox) gets the bytes themselves.
Either way the caller learns one of three things: sent, try again later, or never (and why), as
django-anymail's one vocabulary for delivery events.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection

from newsletters.delivery.messages import PreparedEmailMessage

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# The server asks us to slow down (RFC 5321 421, RFC 3463 4.7.x) or says it is overloaded.
SLOW_DOWN_CODES = {421, 451, 452, 454, 429}
# Refusals of a recipient (at RCPT) that mean the address does not exist: a hard bounce.
HARD_BOUNCE_CODES = {550, 551, 553}


@dataclass(frozen=True)
class Outcome:
    """What became of one message, in the words every sender uses.

    `halt`: the fault is not this reader's but the server's or ours (unreachable, refusing our
    sender or credentials): the attempt does not count against the reader and the batch stops.
    `pause`: only a person can fix it (credentials, the sender address): the digest is paused.
    `bounce`: the address does not exist (suppress it).
    """

    ok: bool
    permanent: bool = False
    code: int | None = None
    error: str = ""
    slow_down: bool = False
    halt: bool = False
    pause: bool = False
    bounce: bool = False


class _Smtp:
    """One reusable SMTP connection per worker process (opened lazily, reopened when lost).

    Messages go out as prepared bytes in one pipelined transaction (RFC 2920: MAIL, RCPT and
    DATA in one write) rather than through smtplib.sendmail, which re-scans every message with
    two regular expressions to fix line ends and dot-stuff; ours are CRLF already, so stuffing
    is one bytes.replace.
    """

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None
        self.pipelining = False

    def _open(self) -> smtplib.SMTP:
        host, port, timeout = settings.EMAIL_HOST, int(settings.EMAIL_PORT), settings.EMAIL_TIMEOUT
        client: smtplib.SMTP
        if settings.EMAIL_USE_SSL:
            client = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
            if settings.EMAIL_USE_TLS:
                client.starttls(context=ssl.create_default_context())
        if settings.EMAIL_HOST_USER:
            client.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        client.ehlo_or_helo_if_needed()
        self.pipelining = client.has_extn("pipelining")
        return client

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def send(self, *, from_address: str, to: str, raw: bytes) -> Outcome:
        wire = raw.replace(b"\r\n.", b"\r\n..")
        wire += b".\r\n" if wire.endswith(b"\r\n") else b"\r\n.\r\n"
        # A connection the server closed while we were idle is found out on the first send: reopen
        # once and try again before reporting anything.
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = self._open()
                return self._transaction(self.connection, from_address, to, wire)
            except smtplib.SMTPAuthenticationError as refused:
                self.close()
                return Outcome(
                    ok=False,
                    halt=True,
                    pause=True,
                    code=refused.smtp_code,
                    error=_text(f"The mail server refused the login in EMAIL_URL: {refused}"),
                )
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as lost:
                self.connection = None
                if attempt == 2:
                    return Outcome(
                        ok=False,
                        halt=True,
                        error=_text(f"Could not reach the mail server in EMAIL_URL: {lost}"),
                    )
            except smtplib.SMTPException as other:
                self.close()
                return Outcome(ok=False, error=_text(f"{type(other).__name__}: {other}"))
        return Outcome(ok=False, halt=True, error="Could not reach the mail server in EMAIL_URL")

    def _transaction(self, client: smtplib.SMTP, sender: str, to: str, wire: bytes) -> Outcome:
        mail = f"MAIL FROM:{smtplib.quoteaddr(sender)}\r\n"
        rcpt = f"RCPT TO:{smtplib.quoteaddr(to)}\r\n"
        if self.pipelining:
            client.send(mail + rcpt + "DATA\r\n")
            replies = [client.getreply(), client.getreply(), client.getreply()]
        else:
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
                error=_text(f"The mail server refused the sender {sender}: {mail_code} ")
                + _text(mail_text),
            )
        rcpt_code, rcpt_text = rest[0]
        if rcpt_code not in {250, 251}:
            self._reset(client, data_open=len(rest) == 2 and rest[1][0] == 354)
            return _reply(rcpt_code, rcpt_text, bounce=rcpt_code in HARD_BOUNCE_CODES)
        data_code, data_text = rest[1]
        if data_code != 354:
            self._reset(client, data_open=False)
            return _reply(data_code, data_text)
        client.send(wire)
        code, text = client.getreply()
        if code != 250:
            return _reply(code, text)
        return Outcome(ok=True)

    def _reset(self, client: smtplib.SMTP, *, data_open: bool) -> None:
        # End the failed transaction so the connection can carry the next message.
        try:
            if data_open:  # the server said 354 all the same: give it an empty message back
                client.send(b".\r\n")
                client.getreply()
            client.rset()
        except (smtplib.SMTPException, OSError):
            self.connection = None


def _text(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return " ".join(text.split())[:500]


def _reply(code: int, message: bytes | str, *, bounce: bool = False) -> Outcome:
    return Outcome(
        ok=False,
        permanent=500 <= code < 600,
        code=code,
        error=_text(f"{code} {_text(message)}"),
        slow_down=code in SLOW_DOWN_CODES,
        # 421: the service is closing the channel, for everyone; not this reader's fault.
        halt=code == 421,
        bounce=bounce,
    )


_smtp = _Smtp()


def sender_close() -> None:
    """Close this process's SMTP connection and ESP session (worker shutdown, tests)."""
    from operations.transport import esp

    _smtp.close()
    esp.esp_close()


def message_send(
    *, from_address: str, to: str, raw: bytes, metadata: dict[str, str] | None = None
) -> Outcome:
    """Send one prepared message over EMAIL_URL; never raises for the server's answers.

    `metadata` is for ESPs that echo it in their tracking events; SMTP ignores it.
    """
    from operations.transport import esp

    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return _smtp.send(from_address=from_address, to=to, raw=raw)
    if esp.is_esp_backend(str(settings.EMAIL_BACKEND)):
        # anymail's backends post structured fields, not bytes (see esp.py).
        return esp.esp_send(from_address=from_address, to=to, raw=raw, metadata=metadata or {})
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages(
                [PreparedEmailMessage(raw=raw, from_email=from_address, to=to)]
            )
    except Exception as exc:  # any backend, any failure: the row records it and is retried
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(ok=True)
