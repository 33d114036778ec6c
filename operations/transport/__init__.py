"""The one way the product hands a message to the mail server, with outcomes in one vocabulary.

Digests, confirmations, welcomes, notices, test sends and the admin's mail check all go through
`message_send`, so the mail check proves the path every mail takes. For SMTP (the common case) a
worker process keeps one connection open and sends the prepared bytes (smtp.py); an ESP's
django-anymail backend gets a structured message made from them (esp.py); any other Django
backend (the local outbox) gets the bytes themselves (prepared.py). Either way the caller learns
one of three things: sent, try again later, or never, and why (outcomes.py).

No throttle or pacing here: the digest engine paces its own batches (newsletters/delivery), so
a reader waiting for a confirmation never queues behind a digest's send rate.
"""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from operations.dkim.selection import message_sign
from operations.transport import esp, smtp
from operations.transport.message_ids import message_id_make
from operations.transport.outcomes import Outcome, TransportFailure
from operations.transport.prepared import PreparedEmailMessage
from operations.transport.smtp import SMTP_BACKEND

__all__ = [
    "SMTP_BACKEND",
    "Outcome",
    "PreparedEmailMessage",
    "TransportFailure",
    "email_message_send",
    "message_send",
    "message_send_or_raise",
    "pipeline_abandon",
    "transport_close",
]


def message_send(
    *,
    from_address: str,
    to: str,
    raw: bytes,
    metadata: dict[str, str] | None = None,
    then: smtp.Envelope | None = None,
) -> Outcome:
    """Send one prepared message over EMAIL_URL; never raises for the server's answers.

    `metadata` is for ESPs that echo it in their tracking events; SMTP ignores it. `then` is
    the (sender, recipient) of the message the caller will send next: over SMTP its envelope
    goes out with this message's content (smtp.py); a caller that then does not send it calls
    `pipeline_abandon`. Other senders ignore it.
    """
    if esp.is_esp_backend(str(settings.EMAIL_BACKEND)):
        # anymail's backends post structured fields, not bytes (see esp.py); the ESP builds the
        # message again and signs it with the domain key set up there, so no signature of ours.
        return esp.esp_send(from_address=from_address, to=to, raw=raw, metadata=metadata or {})
    raw = message_sign(raw=raw)  # SMTP and any Django backend get the signed bytes
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return smtp.smtp_send(from_address=from_address, to=to, raw=raw, then=then)
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages(
                [PreparedEmailMessage(raw=raw, from_email=from_address, to=to)]
            )
    except Exception as exc:  # any backend, any failure: the caller records it and retries
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(ok=True)


def message_send_or_raise(
    *, from_address: str, to: str, raw: bytes, metadata: dict[str, str] | None = None
) -> None:
    """`message_send`, raising TransportFailure (with the Outcome) unless the server took it."""
    outcome = message_send(from_address=from_address, to=to, raw=raw, metadata=metadata)
    if not outcome.ok:
        raise TransportFailure(outcome)


def email_message_send(*, message: EmailMessage, envelope_from: str | None = None) -> Outcome:
    """A message built with Django's mail classes, sent as its bytes to its one recipient.

    Django's classes build the headers (and refuse CR/LF in them). The envelope sender is
    `envelope_from` when given (a reader's signed VERP return path, so a bounce names them),
    else the From header's address, as Django's SMTP backend would use. A message without a
    Message-ID gets one on our domain, never Django's default on the machine's name.
    """
    if len(message.recipients()) != 1:
        raise ValueError("one recipient per message: each reader's outcome is its own")
    if not any(name.lower() == "message-id" for name in message.extra_headers):
        message.extra_headers["Message-ID"] = message_id_make()
    raw = message.message().as_bytes(linesep="\r\n")
    return message_send(
        from_address=envelope_from or parseaddr(message.from_email)[1] or message.from_email,
        to=message.recipients()[0],
        raw=raw,
    )


def pipeline_abandon() -> None:
    """The message named as `then` will not be sent after all: end its open envelope."""
    smtp.smtp_pipeline_abandon()


def transport_close() -> None:
    """Close this process's SMTP connection and ESP session (worker shutdown, tests)."""
    smtp.smtp_close()
    esp.esp_close()
