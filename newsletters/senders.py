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

from newsletters.mime import PreparedEmailMessage

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# The server asks us to slow down (RFC 5321 421, RFC 3463 4.7.x) or says it is overloaded.
SLOW_DOWN_CODES = {421, 451, 452, 454, 429}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool = False
    code: int | None = None
    error: str = ""
    slow_down: bool = False


class _Smtp:
    """One reusable SMTP connection per worker process (opened lazily, reopened when lost)."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None

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
        return client

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def send(self, *, from_address: str, to: str, raw: bytes) -> Outcome:
        # A connection the server closed while we were idle is found out on the first send: reopen
        # once and try again before reporting anything.
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = self._open()
                self.connection.sendmail(from_address, [to], raw)
                return Outcome(ok=True)
            except smtplib.SMTPRecipientsRefused as refused:
                code, message = next(iter(refused.recipients.values()))
                return _reply(code, message)
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as rejected:
                self._reset()
                return _reply(rejected.smtp_code, rejected.smtp_error)
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as lost:
                self.connection = None
                if attempt == 2:
                    return Outcome(
                        ok=False, error=f"Could not reach the mail server in EMAIL_URL: {lost}"
                    )
            except smtplib.SMTPException as other:
                self.close()
                return Outcome(ok=False, error=f"{type(other).__name__}: {other}")
        return Outcome(ok=False, error="unreachable")

    def _reset(self) -> None:
        try:
            if self.connection is not None:
                self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.connection = None


def _reply(code: int, message: bytes | str) -> Outcome:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    error = f"{code} {text}"[:500]
    return Outcome(
        ok=False,
        permanent=500 <= code < 600,
        code=code,
        error=error,
        slow_down=code in SLOW_DOWN_CODES,
    )


_smtp = _Smtp()


def sender_close() -> None:
    """Close this process's SMTP connection and ESP session (worker shutdown, tests)."""
    from newsletters import esp  # esp.py imports Outcome from here

    _smtp.close()
    esp.esp_close()


def message_send(
    *, from_address: str, to: str, raw: bytes, metadata: dict[str, str] | None = None
) -> Outcome:
    """Send one prepared message over EMAIL_URL; never raises for the server's answers.

    `metadata` is for ESPs that echo it in their tracking events; SMTP ignores it.
    """
    from newsletters import esp  # esp.py imports Outcome from here

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
