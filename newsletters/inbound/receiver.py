"""Receiving bounce mail from the local MTA: LMTP (RFC 2033), or plain SMTP with --smtp.

The MTA hands over mail for BOUNCE_ADDRESS and its VERP variants (bounces+<token>@domain);
each message goes to the entry point (process.py) with its RCPT TO list. The reply tells the
MTA what to do: 250 once the message was applied, 451 to keep it queued and try again (the
database is down), 550 for an address that is not ours, 552 for a message over the size limit.
Whether a return path is genuine is the entry point's business (it checks the signed token);
here only where the mail is addressed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from newsletters.inbound import process

logger = logging.getLogger(__name__)

# Bounces carry the original's headers or the whole message (ours are tens of KB); nothing we
# need is bigger, and the limit is announced in the greeting (SIZE, RFC 1870) so the MTA checks
# it before it sends.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# The ORM is synchronous: messages are applied on these threads, never on the event loop, so a
# slow database holds up the deliveries in hand, not every connection.
APPLY_THREADS = 4
TEMPORARY_FAILURE = "451 4.3.0 Cannot record this message now; try again later"


class ReceiverError(Exception):
    """The receiver cannot start; str() says why."""


def recipient_is_accepted(*, address: str, bounce_address: str) -> bool:
    """Whether `address` is BOUNCE_ADDRESS or its local part plus '+anything', at its domain
    (case ignored: servers may change the case of a local part)."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    base_local, _, base_domain = bounce_address.rpartition("@")
    if not at or domain.lower() != base_domain.lower():
        return False
    return local.partition("+")[0].lower() == base_local.lower()


def _apply(raw: bytes, recipients: Sequence[str], source: str) -> process.InboundResult:
    # Runs on an APPLY_THREADS thread: each keeps its own connection, which is closed when
    # broken or too old, as Django does around a request.
    close_old_connections()
    try:
        return process.inbound_message_process(
            raw=raw, envelope_recipients=recipients, source=source
        )
    finally:
        close_old_connections()


class _Handler:
    def __init__(self, *, bounce_address: str, executor: ThreadPoolExecutor, is_lmtp: bool):
        self.bounce_address = bounce_address
        self.executor = executor
        self.is_lmtp = is_lmtp

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not recipient_is_accepted(address=address, bounce_address=self.bounce_address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return f"250 2.1.5 <{address}> OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = [str(address) for address in envelope.rcpt_tos]
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        work = functools.partial(_apply, raw, recipients, "lmtp" if self.is_lmtp else "smtp")
        try:
            result = await loop.run_in_executor(self.executor, work)
        except DatabaseError as error:
            logger.warning("Bounce receiver: database error (%s); answered 451.", error)
            replies = [TEMPORARY_FAILURE] * len(recipients)
        except Exception:
            # A bug, since the entry point never raises for malformed mail: the MTA keeps the
            # message queued while it is fixed.
            logger.exception("Bounce receiver: processing a message failed; answered 451.")
            replies = [TEMPORARY_FAILURE] * len(recipients)
        else:
            replies = [f"250 2.0.0 <{rcpt}> {result.kind}" for rcpt in recipients]
        # LMTP answers DATA once per accepted recipient (RFC 2033 §4.2); SMTP once.
        return "\r\n".join(replies) if self.is_lmtp else replies[0]


class _Lmtp(LMTP):
    # aiosmtpd refuses an oversized DATA (552) or one with a line over 998 bytes (500) with one
    # reply, but LMTP owes one per accepted recipient: an MTA would wait for the others.
    _data_recipient_count = 0

    async def smtp_DATA(self, arg: str) -> None:
        self._data_recipient_count = len(self.envelope.rcpt_tos) if self.envelope else 0
        try:
            await super().smtp_DATA(arg)
        finally:
            self._data_recipient_count = 0

    async def push(self, status: Any) -> None:
        count = self._data_recipient_count
        if count > 1 and isinstance(status, str) and status[:3] in ("500", "552"):
            status = "\r\n".join([status] * count)
        await super().push(status)


class _Controller(Controller):
    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.is_lmtp = handler.is_lmtp

    def factory(self) -> SMTP:
        server_class = _Lmtp if self.is_lmtp else SMTP
        return server_class(self.handler, **self.SMTP_kwargs)


@dataclass
class Receiver:
    """A running receiver: where it listens and how to stop it."""

    host: str
    port: int
    protocol: str  # LMTP | SMTP
    controller: _Controller
    executor: ThreadPoolExecutor

    def stop(self) -> None:
        """Stop listening; messages being applied finish (their senders get no reply and
        retry, and the entry point recognises the duplicate)."""
        self.controller.stop()
        self.executor.shutdown(wait=True)


def receiver_start(*, host: str = "127.0.0.1", port: int = 2525, is_smtp: bool = False) -> Receiver:
    """A receiver listening on host:port on a thread of its own, accepting mail only for
    BOUNCE_ADDRESS (+anything); raises ReceiverError when it cannot."""
    bounce_address = str(settings.BOUNCE_ADDRESS)
    if not bounce_address:
        raise ReceiverError(
            "BOUNCE_ADDRESS is not set: the receiver accepts mail only for it (and its "
            "+token variants), so it has nothing to receive."
        )
    executor = ThreadPoolExecutor(APPLY_THREADS, thread_name_prefix="bounce-apply")
    handler = _Handler(bounce_address=bounce_address, executor=executor, is_lmtp=not is_smtp)
    controller = _Controller(
        handler,
        hostname=host,
        port=port,
        # socket.getfqdn() (aiosmtpd's default name) can wait on DNS at start-up.
        server_hostname=socket.gethostname(),
        ident="Newsdesk bounce receiver",
        data_size_limit=MAX_MESSAGE_BYTES,
    )
    try:
        controller.start()
    except (OSError, TimeoutError) as error:
        executor.shutdown(wait=False)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ReceiverError(f"cannot listen on {host}:{port}: {reason}") from None
    return Receiver(
        host=host,
        port=port,
        protocol="SMTP" if is_smtp else "LMTP",
        controller=controller,
        executor=executor,
    )


def receiver_serve(
    *, host: str, port: int, is_smtp: bool, on_ready: Callable[[Receiver], None]
) -> None:
    """Runs a receiver until SIGINT or SIGTERM, then stops it; on_ready is called once it
    listens. Raises ReceiverError when it cannot start."""
    receiver = receiver_start(host=host, port=port, is_smtp=is_smtp)
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        on_ready(receiver)
        while not stopping.wait(0.5):
            pass
    finally:
        receiver.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
