"""Fetching bounce and complaint mail from a mailbox (BOUNCE_MAILBOX_URL: IMAP or POP3 over TLS).

Each message is handed to the entry point (process.py) and removed from the mailbox only once it
was applied, so a crash, a dropped connection or a database outage loses nothing: what is left
is fetched next time (and a message applied but not yet removed comes back as a duplicate,
which the entry point recognises). One fetch runs at a time across all hosts (a Redis lock):
beat ticks every minute, and two pollers would hand the same messages over twice.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Protocol

import redis
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import LockError
from redis.lock import Lock

from newsletters.inbound import process
from newsletters.inbound.mailbox_protocols import (
    SESSION_ERRORS,
    ImapSession,
    MailboxError,
    MailboxSession,
    Pop3Session,
    error_reason,
)
from operations.redis_client import redis_client

logger = logging.getLogger(__name__)

LOCK_KEY = "newsdesk:inbound:fetch-lock"
# Renewed after every message, so it outlives a run only when its holder died mid-message
# (one message takes at most a socket timeout or two plus its processing).
LOCK_SECONDS = 120
# DSNs carry the original's headers or the whole message (ours are tens of KB); a message over
# this is no bounce of ours, and it stays in the mailbox for a person to look at.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# A mailbox keeps no envelope: the MTA that filed the message wrote its recipient into one of
# these (Postfix and dovecot-lda: Delivered-To, X-Original-To; Exim: Envelope-To).
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
MAX_ENVELOPE_RECIPIENTS = 10


class MailboxSettings(Protocol):
    """settings.BOUNCE_MAILBOX's shape (config/deliverability.py's MailboxConfig)."""

    @property
    def scheme(self) -> str: ...  # imaps | pop3s
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def folder(self) -> str: ...


@dataclass
class FetchReport:
    """What one run did: messages applied (by the entry point's kind), removed, left, and why
    it stopped early if it did."""

    mailbox: str = ""  # scheme://user@host:port[/folder], never the password
    kinds: Counter[str] = field(default_factory=Counter)
    removed_count: int = 0  # applied and marked removed (final at EXPUNGE / QUIT)
    left_count: int = 0  # still in the mailbox for a later run
    too_big_count: int = 0  # over MAX_MESSAGE_BYTES: left for a person
    failed_count: int = 0  # the entry point failed unexpectedly: kept, logged with its traceback
    errors: list[str] = field(default_factory=list)
    is_configured: bool = True
    is_busy: bool = False  # another fetch held the lock

    @property
    def handed_count(self) -> int:
        return sum(self.kinds.values())

    @property
    def is_ok(self) -> bool:
        return self.is_configured and not self.errors

    def summary(self) -> str:
        """One line for a log or a terminal."""
        if not self.is_configured:
            return "BOUNCE_MAILBOX_URL is not set: no mailbox to fetch from."
        if self.is_busy:
            return f"{self.mailbox}: another fetch is running; nothing done."
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds.items()))
        line = (
            f"{self.mailbox}: {self.handed_count} processed"
            f"{f' ({kinds})' if kinds else ''}, {self.removed_count} removed, "
            f"{self.left_count} left in the mailbox"
        )
        if self.too_big_count:
            line += f" ({self.too_big_count} over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB)"
        if self.failed_count:
            line += f", {self.failed_count} failed (see the log)"
        if self.errors:
            line += ". Error: " + "; ".join(self.errors)
        return line


def envelope_recipients_read(*, raw: bytes) -> list[str]:
    """The envelope recipients a mailbox's MTA recorded in the message's headers (at most
    MAX_ENVELOPE_RECIPIENTS, in order, no repeats); never raises."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        values = [str(value) for name in ENVELOPE_HEADERS for value in headers.get_all(name, [])]
        addresses = [address for _, address in getaddresses(values) if "@" in address]
    except (ValueError, TypeError, IndexError, LookupError) as error:
        # Outside input: headers odd enough to trip the parser give no envelope, not a failure.
        logger.info("Envelope headers unreadable (%s); none passed on.", error)
        return []
    return list(dict.fromkeys(addresses))[:MAX_ENVELOPE_RECIPIENTS]


def _one_line(error: BaseException) -> str:
    # Database drivers' messages run over several lines (psycopg adds a DETAIL line).
    return " ".join(str(error).split()) or type(error).__name__


def _describe(config: MailboxSettings) -> str:
    where = f"{config.scheme}://{config.username}@{config.host}:{config.port}"
    return f"{where}/{config.folder}" if config.scheme == "imaps" else where


def mailbox_fetch(*, limit: int = 500, time_budget: float = 120.0) -> FetchReport:
    """Hands each message waiting in BOUNCE_MAILBOX (up to `limit`, for at most `time_budget`
    seconds) to the entry point once and removes it only after it was applied; a quiet no-op
    when BOUNCE_MAILBOX is unset."""
    config: MailboxSettings | None = settings.BOUNCE_MAILBOX
    if config is None:
        return FetchReport(is_configured=False)
    report = FetchReport(mailbox=_describe(config))
    try:
        lock = redis_client().lock(LOCK_KEY, timeout=LOCK_SECONDS)
        acquired = lock.acquire(blocking=False)
    except redis.RedisError as error:
        report.errors.append(f"Redis is unavailable ({_one_line(error)}); nothing fetched")
        logger.warning("Bounce fetch: %s", report.summary())
        return report
    if not acquired:
        report.is_busy = True
        logger.info("Bounce fetch skipped: %s", report.summary())
        return report
    try:
        _fetch(report=report, config=config, lock=lock, limit=limit, time_budget=time_budget)
    finally:
        # Expired, or Redis gone: the TTL frees it either way.
        with contextlib.suppress(LockError, redis.RedisError):
            lock.release()
    if report.errors:
        logger.warning("Bounce fetch: %s", report.summary())
    elif report.handed_count or report.left_count or report.failed_count:
        logger.info("Bounce fetch: %s", report.summary())
    else:
        # Every minute on an empty mailbox: not worth a line at the default level.
        logger.debug("Bounce fetch: %s", report.summary())
    return report


def _connect(config: MailboxSettings) -> tuple[MailboxSession, str]:
    # The system's trust store and hostname check: the mailbox password crosses the network.
    context = ssl.create_default_context()
    session: ImapSession | Pop3Session
    try:
        if config.scheme == "pop3s":
            session = Pop3Session(host=config.host, port=config.port, context=context)
        else:
            session = ImapSession(host=config.host, port=config.port, context=context)
    except SESSION_ERRORS as error:
        raise MailboxError(f"cannot connect: {error_reason(error)}") from None
    try:
        if isinstance(session, Pop3Session):
            session.login(username=config.username, password=config.password)
        else:
            session.login(username=config.username, password=config.password, folder=config.folder)
    except SESSION_ERRORS as error:
        session.abandon()
        if isinstance(error, MailboxError):
            raise
        raise MailboxError(f"cannot log in: {error_reason(error)}") from None
    return session, "pop3" if isinstance(session, Pop3Session) else "imap"


def _fetch(
    *, report: FetchReport, config: MailboxSettings, lock: Lock, limit: int, time_budget: float
) -> None:
    started = time.monotonic()
    try:
        session, source = _connect(config)
    except MailboxError as error:
        report.errors.append(f"{error}; nothing fetched")
        return
    try:
        waiting = session.waiting(max_bytes=MAX_MESSAGE_BYTES)
        report.too_big_count = waiting.too_big_count
        report.left_count = waiting.total_count
        for message_id in waiting.ids[:limit]:
            if time.monotonic() - started > time_budget:
                break  # the rest waits for the next tick
            raw = session.fetch(message_id)
            if raw is None:
                report.left_count -= 1  # removed by someone else meanwhile
                continue
            if not _apply(
                report=report, session=session, message_id=message_id, raw=raw, source=source
            ):
                break
            try:
                lock.reacquire()
            except (LockError, redis.RedisError):
                report.errors.append(
                    "the fetch lock was lost; stopped so that nothing is applied twice"
                )
                break
        session.finish()
    except SESSION_ERRORS as error:
        session.abandon()
        report.errors.append(
            f"fetching stopped ({error_reason(error)}); what was not removed is fetched again "
            "next time"
        )


def _apply(
    *, report: FetchReport, session: MailboxSession, message_id: str, raw: bytes, source: str
) -> bool:
    """Hand one message over and remove it; False when the run must stop here."""
    try:
        result = process.inbound_message_process(
            raw=raw, envelope_recipients=envelope_recipients_read(raw=raw), source=source
        )
    except DatabaseError as error:
        # The database is down (or refusing): every later message would fail too. This one and
        # the rest stay in the mailbox for the next run.
        report.errors.append(
            f"database error ({_one_line(error)}); the rest is left for the next run"
        )
        return False
    except Exception:
        # A bug, since the entry point never raises for malformed mail: keep the message for
        # when it is fixed, and let the others through.
        logger.exception(
            "Bounce fetch: processing message %s failed; it stays in the mailbox", message_id
        )
        report.failed_count += 1
        return True
    report.kinds[result.kind] += 1
    session.remove(message_id)
    report.removed_count += 1
    report.left_count -= 1
    return True
