"""One prepared message through django-anymail (an ESP's HTTP API), outcomes as SMTP's.

Anymail's backends post structured fields (subject, bodies, headers, metadata), not MIME bytes,
so the reader's prepared message is parsed back into an EmailMultiAlternatives: about a
millisecond, small beside the HTTP round trip it goes on. One backend (one requests session,
its connections kept alive) serves a whole worker process, like the SMTP connection in
smtp.py. What the ESP answers becomes the same three outcomes: sent, try again later, never.
"""

from __future__ import annotations

import logging
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.signals import setting_changed
from django.dispatch import receiver

from operations.transport.outcomes import Outcome, one_line

logger = logging.getLogger(__name__)

ANYMAIL_BACKENDS = "anymail.backends."
# Headers anymail writes from the message's own fields, and those that only describe the MIME
# structure. Every other header (Message-ID, List-Unsubscribe, List-Unsubscribe-Post, List-Id,
# Precedence, ...) travels to the ESP as a custom header, unchanged.
_BUILT_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
# Of those, the ones read into the message's own fields.
_READ_HEADERS = frozenset({"from", "reply-to", "subject"})
# The ESP took the message (anymail's normalised statuses); "unknown" means it answered 2xx
# without a per-recipient verdict, which for a one-recipient send is acceptance.
_ACCEPTED = {"sent", "queued", "unknown"}
# RFC 5321's "mailbox name not allowed": an address the ESP calls invalid will never work, and
# the caller suppresses it as it would after that reply from an SMTP server.
INVALID_ADDRESS_CODE = 553
# The MIME structure is parsed with compat32 (headers kept as plain strings), and only the
# top-level headers go through policy.default, which decodes RFC 2047 words and keeps display
# names quoted where they need it. Parsing whole messages with policy.default re-parses
# Content-Type at every step, several times slower (docs/performance.md, ESP message parse).
_parser = BytesParser(policy=policy.compat32)


def is_esp_backend(backend: str) -> bool:
    """Whether `backend` (an EMAIL_BACKEND path) is one of django-anymail's."""
    return backend.startswith(ANYMAIL_BACKENDS)


def esp_message_build(
    *, raw: bytes, from_address: str, to: str, metadata: dict[str, str]
) -> EmailMultiAlternatives:
    """The prepared MIME bytes as the structured message anymail posts, metadata attached."""
    parsed = _parser.parsebytes(raw)
    headers = {
        name.lower(): (name, policy.default.header_fetch_parse(name, str(value)))
        for name, value in parsed.items()
        if name.lower() in _READ_HEADERS or name.lower() not in _BUILT_HEADERS
    }
    bodies = _bodies(parsed)
    reply_to = headers.get("reply-to", ("", None))[1]
    message = EmailMultiAlternatives(
        subject=str(headers.get("subject", ("", ""))[1]),
        body=bodies.get("plain", ""),
        from_email=str(headers.get("from", ("", ""))[1]) or from_address,
        to=[to],
        reply_to=[str(address) for address in reply_to.addresses] if reply_to else None,
        headers={
            name: str(value) for key, (name, value) in headers.items() if key not in _BUILT_HEADERS
        },
    )
    if "html" in bodies:
        message.attach_alternative(bodies["html"], "text/html")
    # anymail's expando attribute: the ESP stores it and echoes it in tracking events.
    message.metadata = dict(metadata)  # type: ignore[attr-defined]
    return message


def _bodies(parsed: Message) -> dict[str, str]:
    """The first text/plain and text/html parts that are not attachments, decoded."""
    bodies: dict[str, str] = {}
    for part in parsed.walk():
        subtype = part.get_content_subtype()
        if part.get_content_maintype() != "text" or subtype not in {"plain", "html"}:
            continue
        if part.get_filename() is not None or subtype in bodies:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            bodies[subtype] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return bodies


class _Esp:
    """One anymail backend per worker process, its HTTP session opened once and kept."""

    def __init__(self) -> None:
        self.connection: Any = None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing a dead session must not fail a shutdown
                logger.debug("closing the ESP session failed", exc_info=True)
            self.connection = None

    def send(self, *, message: EmailMultiAlternatives, to: str) -> Outcome:
        try:
            if self.connection is None:
                connection = get_connection(fail_silently=False)
                connection.open()
                self.connection = connection
            self.connection.send_messages([message])
        except AnymailRecipientsRefused as refused:
            return _refused(message, refused)
        except AnymailAPIError as error:
            return _api_error(error, to=to)
        except AnymailInvalidAddress as error:
            return Outcome(
                ok=False,
                permanent=True,
                code=INVALID_ADDRESS_CODE,
                bounce=True,
                error=one_line(error),
            )
        except AnymailError as error:
            # A feature or value this ESP cannot carry: the same for every reader, so a fix of
            # the product or its settings, not a verdict on this one address.
            return Outcome(
                ok=False,
                halt=True,
                pause=True,
                error=one_line(f"{_esp()} cannot send this message: {error}"),
            )
        except ImproperlyConfigured as error:
            self.close()
            return Outcome(
                ok=False,
                halt=True,
                pause=True,
                error=one_line(f"{_esp()} is not configured (EMAIL_URL): {error}"),
            )
        except Exception as error:  # the row records it and is retried; never lost
            logger.exception("Unexpected error sending through %s", _esp())
            self.close()
            return Outcome(ok=False, error=one_line(f"{type(error).__name__}: {error}"))
        return _accepted(message)


def _esp() -> str:
    backend = str(settings.EMAIL_BACKEND)
    return backend.removeprefix(ANYMAIL_BACKENDS).split(".")[0].replace("_", " ").title()


def _statuses(message: EmailMultiAlternatives) -> set[str]:
    status = getattr(message, "anymail_status", None)
    return set(status.status or ()) if status is not None else set()


def _accepted(message: EmailMultiAlternatives) -> Outcome:
    statuses = _statuses(message)
    if statuses and statuses <= _ACCEPTED:
        return Outcome(ok=True)
    if statuses & {"invalid", "rejected"}:  # with anymail's IGNORE_RECIPIENT_STATUS on
        return _refused(message, None)
    # "failed": the ESP took the call but could not send (say, a rendering error on its side).
    return Outcome(ok=False, error=one_line(f"{_esp()} could not send it ({sorted(statuses)})"))


def _refused(message: EmailMultiAlternatives, error: AnymailError | None) -> Outcome:
    """The ESP will not send to this address: an invalid one, or one on its suppression list."""
    # anymail's message here is generic; what the ESP answered says why.
    reason = f"{error} {_response_text(error)}" if error is not None else ""
    if "invalid" in _statuses(message):
        return Outcome(
            ok=False,
            permanent=True,
            code=INVALID_ADDRESS_CODE,
            bounce=True,
            error=one_line(f"{_esp()}: invalid address. {reason}"),
        )
    return Outcome(ok=False, permanent=True, error=one_line(f"{_esp()} rejected it. {reason}"))


def _api_error(error: AnymailAPIError, *, to: str) -> Outcome:
    status = error.status_code
    described = one_line(error)
    if status is None:  # no HTTP answer: connection refused or reset, timeout, TLS failure
        return Outcome(
            ok=False,
            halt=True,
            error=one_line(
                f"Could not reach {_esp()} (EMAIL_URL {settings.EMAIL_URL_REDACTED}): {described}"
            ),
        )
    if status == 429:
        return Outcome(
            ok=False, slow_down=True, halt=True, error=one_line(f"HTTP 429: {described}")
        )
    if status in {401, 403}:
        # A wrong or revoked API key is the operator's to fix, and says nothing about the
        # reader: the rows wait and are retried rather than failing the whole audience.
        return Outcome(
            ok=False,
            halt=True,
            pause=True,
            error=one_line(
                f"{_esp()} refused the credentials in EMAIL_URL (HTTP {status}); fix EMAIL_URL "
                f"and resume the digest. {described}"
            ),
        )
    if 400 <= status < 500 and _names(error, to):
        return Outcome(ok=False, permanent=True, error=one_line(f"HTTP {status}: {described}"))
    # 5xx: the ESP's own trouble, retried without counting against the reader. 4xx about the
    # request rather than this reader (an unverified sender, a wrong ?api_url=, a quota): the
    # same for every message, so the digest waits for a person instead of failing wholesale.
    return Outcome(
        ok=False, halt=True, pause=status < 500, error=one_line(f"HTTP {status}: {described}")
    )


def _names(error: AnymailAPIError, to: str) -> bool:
    """Whether the ESP's error answer is about this recipient (it names the address)."""
    return bool(to) and to.lower() in _response_text(error).lower()


def _response_text(error: AnymailError) -> str:
    try:
        response = getattr(error, "response", None)
        return str(response.text) if response is not None else ""
    except Exception:  # an unreadable body says nothing
        return ""


_esp_connection = _Esp()


def esp_send(*, from_address: str, to: str, raw: bytes, metadata: dict[str, str]) -> Outcome:
    """Send one prepared message through the anymail backend in EMAIL_BACKEND; never raises."""
    try:
        message = esp_message_build(raw=raw, from_address=from_address, to=to, metadata=metadata)
    except Exception as error:  # bytes we built ourselves: a bug, recorded on the row
        logger.exception("Could not turn a prepared message into an ESP message")
        return Outcome(ok=False, error=one_line(f"Could not build the ESP message: {error}"))
    return _esp_connection.send(message=message, to=to)


def esp_close() -> None:
    """Close this process's ESP session (worker shutdown, tests)."""
    _esp_connection.close()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # A backend reads its settings once, when made: a new EMAIL_URL (tests) needs a new one.
    if setting in {"EMAIL_BACKEND", "ANYMAIL"}:
        esp_close()
