"""What became of one message, in one vocabulary for every sender (SMTP, ESP, any backend).

Django-anymail's idea: whoever carried the message, the caller learns one of three things —
sent, try again later, or never (and why) — and decides from that alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The server asks us to slow down (RFC 5321 421, RFC 3463 4.7.x) or says it is overloaded.
SLOW_DOWN_CODES = {421, 451, 452, 454, 429}
# RFC 3463 4.7.x: a temporary refusal for policy reasons, which is what providers say when mail
# comes too fast ("421 4.7.0 Try again later", Outlook's "451 4.7.500 Server busy").
_POLICY_DEFERRAL = re.compile(r"4\.7\.\d{1,3}(?!\S)")
# Refusals of a recipient (at RCPT) that mean the address does not exist: a hard bounce.
HARD_BOUNCE_CODES = {550, 551, 553}
# Long enough for any server's reason, short enough for a row's error column.
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class Outcome:
    """What became of one message, in the words every sender uses.

    `permanent`: it will never go to this address (5xx); otherwise it may later.
    `halt`: the fault is not this reader's but the server's or ours (unreachable, refusing our
    sender or credentials): the attempt does not count against the reader and the batch stops.
    `pause`: only a person can fix it (credentials, the sender address): the digest is paused.
    `bounce`: the address does not exist (suppress it).
    `domain_slow_down`: the recipient's domain, not the whole server, asks us to slow down (a
    421 or 4.7.x at RCPT TO): that domain's pace is cut and the reader tried again later; other
    domains go on.
    """

    ok: bool
    permanent: bool = False
    code: int | None = None
    error: str = ""
    slow_down: bool = False
    halt: bool = False
    pause: bool = False
    bounce: bool = False
    domain_slow_down: bool = False


class TransportFailure(Exception):
    """A message the transport did not hand over, for callers that stop on it; see `.outcome`."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or "the mail was not sent")
        self.outcome = outcome


def one_line(message: bytes | str | object) -> str:
    """A server's or library's message as one short line (replies may be multi-line, bytes)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return " ".join(text.split())[:MAX_ERROR_LENGTH]


def reply_outcome(code: int, message: bytes | str, *, bounce: bool = False) -> Outcome:
    """The Outcome of an SMTP reply that refused the message (any code but 250/251/354)."""
    return Outcome(
        ok=False,
        permanent=500 <= code < 600,
        code=code,
        error=one_line(f"{code} {one_line(message)}"),
        slow_down=code in SLOW_DOWN_CODES,
        # 421: the service is closing the channel, for everyone; not this reader's fault.
        halt=code == 421,
        bounce=bounce,
    )


def rcpt_outcome(code: int, message: bytes | str) -> Outcome:
    """The Outcome of a refused RCPT TO: a domain's slow-down, a hard bounce, or `reply_outcome`.

    A 421 or a 4.7.x deferral answered to one recipient concerns that recipient's domain (a relay
    passing on the receiving provider's answer, or the provider's own MX), so it neither halts
    the server's other batches nor slows every domain down. Other 4xx at RCPT (greylisting's
    "451 4.3.0", "452 4.2.2 mailbox full") concern one mailbox and are retried as before.
    """
    text = one_line(message)
    if code == 421 or (400 <= code < 500 and _POLICY_DEFERRAL.match(text)):
        return Outcome(ok=False, code=code, error=one_line(f"{code} {text}"), domain_slow_down=True)
    return reply_outcome(code, text, bounce=code in HARD_BOUNCE_CODES)
