"""What a mail that came back is: a hard or soft bounce, a delay, a spam complaint, or none.

Delivery status notifications (RFC 3464) say it themselves, per recipient: Action and Status.
Servers that write no DSN (Exim's and Yahoo's plain-text notices, old Exchange) are recognised by
flufl.bounce, the detector Mailman maintains for the odd formats of real servers; their status
code is then read from the notice's text, above the copy of the message it returns.
Complaints are ARF feedback reports (RFC 5965). Pure: no database, never raises.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

logger = logging.getLogger(__name__)

HARD, SOFT, DELAYED, COMPLAINT, NONE = "hard-bounce", "soft-bounce", "delayed", "complaint", ""

# An enhanced status code (RFC 3463) or, failing one, a basic reply code (RFC 5321).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<![\d.])([45])(\d)(\d)(?![\d.])")
# Where a plain-text notice starts quoting the returned message: codes below it are not its own.
_QUOTE_START = re.compile(
    r"^\s*-{2,}.*(copy of the message|original message|forwarded message|returned message)",
    re.IGNORECASE | re.MULTILINE,
)
_NOTICE_CHARS = 20_000


@dataclass(frozen=True)
class Verdict:
    kind: str  # HARD | SOFT | DELAYED | COMPLAINT | NONE
    reason: str  # one line: the server's words, or why it is none
    is_failed: bool = False  # the server gave up on this message (DSN Action: failed)
    # The addresses the report says failed, lower case (empty when it names none we can read).
    addresses: frozenset[str] = frozenset()


# Control characters other than whitespace: a report may carry any, and PostgreSQL's text
# columns refuse a NUL outright (the reason is stored in InboundEvent and the ledger).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _one_line(text: str, limit: int = 250) -> str:
    return " ".join(_CONTROL.sub("", text).split())[:limit]


def _is_permanent(status: str) -> bool:
    # 5.2.2 (and a bare 552) is "mailbox full" (RFC 3463 §3.3: X.2.2), though sent as a
    # permanent failure by Gmail and others: the reader empties the mailbox and it takes mail
    # again, so it scores as a soft bounce rather than losing the reader at once.
    # 5.7.x is policy (RFC 3463 §3.8: blocked as spam, our reputation, DMARC): the receiver
    # refused us, not the address, so it scores as soft too rather than suppressing readers
    # wholesale while a provider blocks the sender.
    return (
        status.startswith("5") and status not in {"5.2.2", "552"} and not status.startswith("5.7.")
    )


def mail_classify(*, message: Message) -> Verdict:
    """What `message` reports; NONE (with why) for anything that is not a failure report."""
    try:
        if is_feedback_report(message):
            return _complaint(message)
        blocks = _dsn_blocks(message)
        if blocks:
            return _from_dsn(blocks)
        return _from_detector(message)
    except Exception as error:  # any malformed mail: the parsers of both sides are lenient
        logger.info("Inbound mail could not be classified: %r", error)
        return Verdict(NONE, f"unreadable report ({type(error).__name__})")


def is_feedback_report(message: Message) -> bool:
    """Whether `message` is an ARF feedback report (RFC 5965 §2: multipart/report with a
    message/feedback-report part)."""
    if message.get_content_type() != "multipart/report":
        return False
    return any(part.get_content_type() == "message/feedback-report" for part in message.walk())


def _complaint(message: Message) -> Verdict:
    fields: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        # Parsed as header blocks (a list of messages) or, when malformed, as text.
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:
            if isinstance(block, Message):
                for key in ("Feedback-Type", "User-Agent"):
                    fields.setdefault(key, str(block.get(key, "")))
    kind = _one_line(fields.get("Feedback-Type", "")) or "abuse"
    agent = _one_line(fields.get("User-Agent", ""), 80)
    return Verdict(COMPLAINT, f"feedback report ({kind}){' from ' + agent if agent else ''}")


def _dsn_blocks(message: Message) -> list[Message]:
    blocks: list[Message] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            # The first block is per message; the ones with an Action are per recipient.
            blocks.extend(b for b in payload if isinstance(b, Message) and b.get("Action"))
    return blocks


def _from_dsn(blocks: list[Message]) -> Verdict:
    failed = [b for b in blocks if str(b.get("Action", "")).strip().lower().startswith("fail")]
    if failed:
        addresses = frozenset(
            address
            for b in failed
            for field in ("Final-Recipient", "Original-Recipient")
            if (address := _dsn_address(str(b.get(field, ""))))
        )
        block = failed[0]
        diagnostic = _one_line(str(block.get("Diagnostic-Code", "")))
        status = _status(str(block.get("Status", ""))) or _status(diagnostic)
        reason = _one_line(f"{status} {diagnostic}" if status not in diagnostic else diagnostic)
        if not status or _is_permanent(status):
            # RFC 3464 §2.3.3: "failed" means the message could not be delivered and will not
            # be retried; without a transient status that is the address's fault.
            return Verdict(HARD, reason or "failed", is_failed=True, addresses=addresses)
        return Verdict(SOFT, reason, is_failed=True, addresses=addresses)
    delayed = [b for b in blocks if str(b.get("Action", "")).strip().lower().startswith("delay")]
    if delayed:
        diagnostic = _one_line(str(delayed[0].get("Diagnostic-Code", "")))
        status = _status(str(delayed[0].get("Status", "")))
        return Verdict(DELAYED, _one_line(f"{status} {diagnostic}") or "delayed")
    actions = sorted({_one_line(str(b.get("Action", "")), 20).lower() for b in blocks})
    return Verdict(NONE, f"a delivery report, not a failure (Action: {', '.join(actions)})")


def _dsn_address(field: str) -> str:
    # RFC 3464 §2.3.2: "rfc822; reader@example.com" (the type may be missing on odd servers).
    address = field.rpartition(";")[2].strip().strip("<>").lower()
    return address if "@" in address else ""


def _status(text: str) -> str:
    found = _ENHANCED.search(text)
    return ".".join(found.groups()) if found else ""


def _from_detector(message: Message) -> Verdict:
    temporary, permanent = all_failures(message)
    if not temporary and not permanent:
        return Verdict(NONE, "not a bounce that flufl.bounce or RFC 3464 recognises")
    notice = _notice_text(message)
    enhanced, reply = _ENHANCED.search(notice), _REPLY.search(notice)
    found = enhanced or reply
    line = _one_line(_line_at(notice, found.start())) if found else ""
    if not permanent:
        # flufl reports a delay warning ("will keep trying") as a temporary failure only.
        return Verdict(DELAYED, line or "delayed (delivery will be retried)")
    status = ".".join(enhanced.groups()) if enhanced else ("".join(reply.groups()) if reply else "")
    reason = line or "failed (" + ", ".join(sorted(a.decode() for a in permanent))[:200] + ")"
    addresses = frozenset(a.decode("utf-8", "replace").lower() for a in permanent)
    if not status or _is_permanent(status):
        return Verdict(HARD, reason, is_failed=True, addresses=addresses)
    return Verdict(SOFT, reason, is_failed=True, addresses=addresses)


def _notice_text(message: Message) -> str:
    """The bouncing server's own words: its text parts, cut where the returned copy starts."""
    texts: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            break
        if part.get_content_maintype() != "text" or part.get_content_subtype() != "plain":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            texts.append(payload.decode(charset if _known(charset) else "utf-8", "replace"))
    text = "\n".join(texts)[:_NOTICE_CHARS]
    quote = _QUOTE_START.search(text)
    return text[: quote.start()] if quote else text


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
    except (LookupError, ValueError):
        return False
    return True


def _line_at(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start : end if end != -1 else len(text)]
